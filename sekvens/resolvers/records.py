"""The bulk record upsert: CRMs push records in, each item with its own result.

The rules are `actions/records.py`.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import records
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.roles import RECORD_WRITERS
from sekvens.engine import enrollment, record_sync
from sekvens.engine.record_changes import react_to_record_changes
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.errors import UserError
from sekvens.schema.jobs import Job
from sekvens.schema.records import (
    ErrorPolicy,
    Record,
    UpsertRecordResult,
    UpsertRecordsInput,
    UpsertRecordsPayload,
)
from sekvens.schema.records import RecordInput as RecordInputType
from sekvens.schema.relay import decode_id
from sekvens.storage.records import BULK_MAX, RecordInput


def _to_storage(item: RecordInputType) -> RecordInput | list[Problem]:
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
    fields: object = item.fields if item.fields is not None else {}
    if not isinstance(fields, dict):
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, "Fields must be a JSON object.", ("fields",))
        )
        fields = {}
    if problems:
        return problems
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
    )


@strawberry.type
class RecordMutations:
    @strawberry.mutation(
        description="Insert or update records by (record type, external id), with a result"
        " per item: up to 1000 in the request; more, or with asJob, as a job (docs/jobs.md)."
        " deactivateMissing makes it a full sync of one record type."
    )
    async def upsert_records(self, info: Info, input: UpsertRecordsInput) -> UpsertRecordsPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            items = [_to_storage(item) for item in input.records]
            now = ctx.services.engine.clock.now()
            if input.as_job or len(items) > BULK_MAX:
                if input.error_policy == ErrorPolicy.REJECT_EVERYTHING:
                    raise DomainError.of(
                        ErrorCode.INVALID_VALUE,
                        "A job keeps what each chunk did: use REJECT_FAILED_ROWS, or at most"
                        f" {BULK_MAX} records in the request.",
                        ["errorPolicy"],
                    )
                job = await record_sync.create_sync_job(
                    ctx.session,
                    viewer,
                    items,
                    [i.external_id for i in input.records],
                    input.deactivate_missing,
                    now,
                )
                ctx.services.engine.wake()
                return {"job": Job.from_row(job)}
            full_sync = (
                await record_sync.full_sync_type(ctx.session, viewer.organization_id, items)
                if input.deactivate_missing
                else None
            )
            watched = await enrollment.watch(ctx.session, viewer.organization_id, items)
            results = await records.upsert_records(
                ctx.session,
                viewer,
                items,
                keep_valid=input.error_policy != ErrorPolicy.REJECT_EVERYTHING,
                now=now,
            )
            runner = ctx.services.engine.runner
            if await react_to_record_changes(ctx.session, runner, viewer.organization_id, results):
                ctx.services.engine.wake()
            if await enrollment.enroll(ctx.session, watched, results, now):
                ctx.services.engine.wake()
            kept = [r for r in results if r.record is not None]
            deactivated = (
                await record_sync.deactivate_missing_now(
                    ctx.session,
                    viewer.organization_id,
                    full_sync,
                    [i.external_id for i in input.records],
                    now,
                )
                if full_sync is not None and kept
                else 0
            )
            return {
                "results": [
                    UpsertRecordResult(
                        index=r.index,
                        record=Record.from_row(r.record) if r.record is not None else None,
                        created=r.created,
                        errors=[UserError.from_problem(p, r.index) for p in r.problems],
                    )
                    for r in results
                ],
                "created_count": sum(r.created for r in kept),
                "updated_count": sum(not r.created for r in kept),
                "deactivated_count": deactivated,
            }

        return await mutate(info, UpsertRecordsPayload, run, RECORD_WRITERS)
