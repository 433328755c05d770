"""The bulk record upsert: CRMs push records in, each item with its own result."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.roles import RECORD_WRITERS
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.errors import UserError
from sekvens.schema.records import (
    ErrorPolicy,
    Record,
    UpsertRecordResult,
    UpsertRecordsInput,
    UpsertRecordsPayload,
)
from sekvens.schema.records import RecordInput as RecordInputType
from sekvens.schema.relay import decode_id
from sekvens.storage.records import BULK_MAX, RecordInput, upsert_records


def _to_storage(item: RecordInputType) -> tuple[RecordInput | None, list[Problem]]:
    problems: list[Problem] = []
    ids: dict[str, int | None] = {}
    for name, value, type_name in (
        ("ownerUserId", item.owner_user_id, "User"),
        ("ownerTeamId", item.owner_team_id, "Team"),
        ("accessTeamId", item.access_team_id, "Team"),
    ):
        try:
            ids[name] = None if value is None else decode_id(value, type_name, [name])
        except DomainError as e:
            problems.extend(e.problems)
    fields = item.fields if item.fields is not None else {}
    if not isinstance(fields, dict):
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, "Fields must be a JSON object.", ("fields",))
        )
    if problems:
        return None, problems
    return RecordInput(
        record_type=item.record_type,
        external_id=item.external_id,
        name=item.name,
        owner_user_id=ids["ownerUserId"],
        owner_team_id=ids["ownerTeamId"],
        access_team_id=ids["accessTeamId"],
        stage=item.stage,
        is_active=item.is_active,
        fields=fields,
    ), []


@strawberry.type
class RecordMutations:
    @strawberry.mutation(
        description="Insert or update up to 1000 records by (record type, external id), "
        "with a result per item."
    )
    async def upsert_records(self, info: Info, input: UpsertRecordsInput) -> UpsertRecordsPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            if len(input.records) > BULK_MAX:
                raise DomainError.of(
                    ErrorCode.TOO_MANY, f"At most {BULK_MAX} records per call.", ["records"]
                )
            converted = [_to_storage(item) for item in input.records]
            valid = [(i, c) for i, (c, p) in enumerate(converted) if c is not None]
            stored = await upsert_records(
                ctx.session, viewer.organization_id, viewer.user_id, [c for _, c in valid]
            )
            problems: dict[int, list[Problem]] = {i: p for i, (_, p) in enumerate(converted) if p}
            outcome: dict[int, Any] = {}
            for (index, _), result in zip(valid, stored, strict=True):
                if result.problems:
                    problems[index] = result.problems
                else:
                    outcome[index] = result
            if problems and (not outcome or input.error_policy == ErrorPolicy.REJECT_EVERYTHING):
                # Nothing is kept: roll back (the audit entry included) and report per item.
                await ctx.session.rollback()
                outcome = {}
            results = [
                UpsertRecordResult(
                    index=i,
                    record=Record.from_row(outcome[i].record) if i in outcome else None,
                    created=outcome[i].created if i in outcome else False,
                    errors=[UserError.from_problem(p, i) for p in problems.get(i, [])],
                )
                for i in range(len(input.records))
            ]
            return {
                "results": results,
                "created_count": sum(r.created for r in outcome.values()),
                "updated_count": sum(not r.created for r in outcome.values()),
            }

        return await mutate(info, UpsertRecordsPayload, run, RECORD_WRITERS)
