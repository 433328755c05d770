"""Sequence queries (the home grid, one sequence) and the design and lifecycle mutations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.authoring import sequences as authoring
from sekvens.authoring.checks import Checker
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.sequence_graph import Step as GraphStep
from sekvens.domain.steps import Branch
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import check_record_type, check_search, context
from sekvens.resolvers.sequence_loaders import Design
from sekvens.schema.errors import ApiError
from sekvens.schema.pagination import paginate
from sekvens.schema.prefetch import PREFETCHABLE, node_fields
from sekvens.schema.records import RecordType
from sekvens.schema.relay import Connection, decode_id, from_global_id, key_of
from sekvens.schema.send_windows import window_request
from sekvens.schema.sequences import (
    ActivateSequenceInput,
    AddStepInput,
    AssignSequenceOwnerInput,
    ChooseVariantWinnerInput,
    CloneSequenceInput,
    CreateSequenceInput,
    CreateSequenceRevisionInput,
    DeactivateSequenceInput,
    DeactivateSequencePayload,
    DeleteSequenceInput,
    DeleteSequencePayload,
    DiscardSequenceRevisionInput,
    MoveStepInput,
    RemoveStepInput,
    RemoveStepPayload,
    Sequence,
    SequencePayload,
    SequenceStatus,
    SetSequenceAssignmentInput,
    SetSequenceOptionsInput,
    SetSequenceStepsInput,
    StepPayload,
    UpdateSequenceInput,
    UpdateStepInput,
)
from sekvens.schema.steps import step_gid, step_of
from sekvens.schema.users import User
from sekvens.storage import sequences as store
from sekvens.storage.tables import Sequence as SequenceRow
from sekvens.storage.tables import SequenceVersion as VersionRow

#: A draft may grow past the organization's step limit (activating it is refused), but not
#: beyond this many times the limit: setSequenceSteps refuses that before any work.
DRAFT_STEPS_FACTOR = 2


def sequence_pk(global_id: str, field: str = "sequenceId") -> int:
    return decode_id(global_id, "Sequence", [field])


def step_ref(global_id: str, field: str = "stepId") -> tuple[int, str]:
    """(version id, step key) of a step's global id."""
    kind, raw = from_global_id(str(global_id))
    version, _, key = raw.partition(":")
    version_id = key_of(version)
    if kind != "Step" or version_id is None or not key:
        raise DomainError.of(ErrorCode.NOT_FOUND, f"No step with id '{global_id}'.", [field])
    return version_id, key


async def sequence_of_step(
    ctx: Context, viewer: Viewer, global_id: str, field: str = "stepId"
) -> tuple[int, str]:
    """(sequence id, step key); edits go to the sequence's editable version by key."""
    version_id, key = step_ref(global_id, field)
    version = await ctx.session.get(VersionRow, version_id)
    seq = await ctx.session.get(SequenceRow, version.sequence_id) if version else None
    if seq is None or seq.organization_id != viewer.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, f"No step with id '{global_id}'.", [field])
    return seq.id, key


def _with_step_ids(error: DomainError, version_id: int) -> DomainError:
    return DomainError(
        [
            Problem(
                p.code, p.message, p.field, step_gid(version_id, p.step_key) if p.step_key else None
            )
            for p in error.problems
        ]
    )


async def _in_version(version_id: Callable[[], int | None], work: Awaitable[Any]) -> Any:
    try:
        return await work
    except DomainError as e:
        vid = version_id()
        raise (_with_step_ids(e, vid) if vid is not None else e) from None


def _json(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DomainError.of(ErrorCode.INVALID_VALUE, "A step's config is a JSON object.", [field])
    return value


def _branch(value: Enum | None) -> str | None:
    return None if value is None else str(value.value)


@strawberry.enum
class SequenceOrderField(Enum):
    NAME = "NAME"
    STATUS = "STATUS"
    RECORD_TYPE = "RECORD_TYPE"
    OWNER = "OWNER"
    CREATED_AT = "CREATED_AT"
    MODIFIED_AT = "MODIFIED_AT"
    ACTIVE_CONNECTIONS = "ACTIVE_CONNECTIONS"
    STEP_COUNT = "STEP_COUNT"
    IS_PERSONAL = "IS_PERSONAL"
    TAGS = "TAGS"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input
class SequenceOrder:
    field: SequenceOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input(description="The home grid's filters, one or more per column.")
class SequenceFilter:
    name: str | None = strawberry.field(
        default=None, description="The name contains this (case-insensitive); not the description."
    )
    status: SequenceStatus | None = None
    record_type: str | None = None
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="A user's or a team's id: sequences that user or team owns."
    )
    tag_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Sequences with any of these tags (or their sub-tags)."
    )
    is_personal: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    min_active_connections: int | None = None
    max_active_connections: int | None = None
    min_step_count: int | None = strawberry.field(
        default=None, description="Steps of the newest version, START not counted."
    )
    max_step_count: int | None = None


def _owner(global_id: strawberry.ID | None) -> tuple[int | None, int | None]:
    """(user id, team id) of the filter's owner."""
    if global_id is None:
        return None, None
    kind, _ = from_global_id(str(global_id))
    if kind == "Team":
        return None, decode_id(global_id, "Team", ["filter", "ownerId"])
    return decode_id(global_id, "User", ["filter", "ownerId"]), None


def _counts(f: SequenceFilter) -> list[tuple[str, int | None, int | None]]:
    """The filter's count ranges, checked (never negative, at least <= at most)."""
    out = []
    for column, name, at_least, at_most in (
        (
            "ACTIVE_CONNECTIONS",
            "ActiveConnections",
            f.min_active_connections,
            f.max_active_connections,
        ),
        ("STEP_COUNT", "StepCount", f.min_step_count, f.max_step_count),
    ):
        for bound, value in (("min", at_least), ("max", at_most)):
            if value is not None and value < 0:
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE, "A count is 0 or more.", ["filter", f"{bound}{name}"]
                )
        if at_least is not None and at_most is not None and at_least > at_most:
            raise DomainError.of(
                ErrorCode.INVALID_VALUE,
                "The least is more than the most: nothing can match.",
                ["filter", f"max{name}"],
            )
        if at_least is not None or at_most is not None:
            out.append((column, at_least, at_most))
    return out


@strawberry.type
class SequenceQueries:
    @strawberry.field(description="The home grid: search name and description, filter, sort.")
    async def sequences(
        self,
        info: Info,
        search: str | None = None,
        filter: SequenceFilter | None = None,
        order_by: list[SequenceOrder] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Sequence]:
        ctx = context(info)

        async def run() -> Connection[Sequence]:
            await authoring.organization(ctx.reader, ctx.viewer)
            f = filter or SequenceFilter()
            check_search(search)
            check_search(f.name, ("filter", "name"))
            await check_record_type(
                ctx.reader, ctx.viewer.organization_id, f.record_type, ["filter", "recordType"]
            )
            owner_user_id, owner_team_id = _owner(f.owner_id)
            stmt = store.grid(
                ctx.viewer.organization_id,
                search=search,
                name=f.name,
                status=f.status.value if f.status else None,
                record_type=f.record_type,
                owner_user_id=owner_user_id,
                owner_team_id=owner_team_id,
                counts=_counts(f),
                tag_ids=[decode_id(t, "Tag", ["filter", "tagIds"]) for t in f.tag_ids or []]
                or None,
                is_personal=f.is_personal,
                created_after=f.created_after,
                created_before=f.created_before,
                modified_after=f.modified_after,
                modified_before=f.modified_before,
                order=[(o.field.value, o.direction.value) for o in order_by or []],
            )
            page = await paginate(ctx, stmt, Sequence.from_row, first, after, last, before)
            await prefetch_page(ctx, [e.node for e in page.edges], node_fields(info))
            return page

        try:
            return await run()
        except DomainError as e:
            raise ApiError.from_domain(e) from None

    @strawberry.field
    async def sequence(self, info: Info, id: strawberry.ID) -> Sequence | None:
        ctx = context(info)
        try:
            await authoring.organization(ctx.reader, ctx.viewer)
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        kind, pk = from_global_id(str(id))
        key = key_of(pk) if kind == "Sequence" else None
        row = await ctx.reader.get(SequenceRow, key) if key is not None else None
        if row is None or row.organization_id != ctx.viewer.organization_id:
            return None
        return Sequence.from_row(row)


async def prefetch_page(ctx: Context, nodes: list[Sequence], wanted: set[str]) -> None:
    """Load the related fields `wanted` of a page of sequences together (one batched
    statement each, through the request's loaders, so they are shared with nodes reached
    another way) and store them on the nodes (`schema.prefetch`)."""
    wanted = wanted & set(PREFETCHABLE["Sequence"])
    if not nodes or not wanted:
        return
    ids = [n.row.id for n in nodes]
    seqs, loaders = ctx.sequence_loaders, ctx.loaders

    async def record_types() -> list[Any]:
        rows = await loaders.record_type.load_many([n.row.record_type_id for n in nodes])
        return [RecordType.from_row(r) for r in rows]

    async def owners() -> list[Any]:
        owner_ids = [n.row.owner_user_id for n in nodes]
        rows = await loaders.user.load_many([i for i in owner_ids if i is not None])
        found = {r.id: User.from_row(r) for r in rows if r is not None}
        return [found.get(i) if i is not None else None for i in owner_ids]

    jobs: dict[str, Callable[[], Awaitable[list[Any]]]] = {
        "stepCount": lambda: seqs.sequence_step_counts.load_many(ids),
        "activeConnections": lambda: seqs.active_connections.load_many(ids),
        "recordType": record_types,
        "ownerUser": owners,
        "tags": lambda: seqs.tags.load_many(ids),
    }
    names = [name for name in jobs if name in wanted]
    results = await asyncio.gather(*(jobs[name]() for name in names))
    for i, node in enumerate(nodes):
        node.prefetched = {name: values[i] for name, values in zip(names, results, strict=True)}


def _step_input(registry: Any, s: Any, i: int) -> GraphStep:
    try:
        step = authoring.new_step(
            registry, s.type, s.name, s.description, _json(s.config, "config"), s.key
        )
    except DomainError as e:
        raise DomainError(
            [Problem(p.code, p.message, ("steps", str(i), *p.field)) for p in e.problems]
        ) from None
    # Left out, the branch is NEXT (as addStep's); START has none.
    step.parent = s.parent_key
    step.branch = _branch(s.branch) or (Branch.NEXT if s.parent_key is not None else None)
    return step


@strawberry.type
class SequenceMutations:
    @strawberry.mutation(description="A blank sequence (START only) or one from a template.")
    async def create_sequence(self, info: Info, input: CreateSequenceInput) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            steps, record_type, description = None, input.record_type, input.description
            if input.template_id is not None:
                from sekvens.authoring.templates import get_template

                template = await get_template(
                    ctx.session, viewer.organization_id, str(input.template_id)
                )
                if record_type is not None and record_type != template.record_type:
                    raise DomainError.of(
                        ErrorCode.WRONG_RECORD_TYPE,
                        f"The template is for record type '{template.record_type}', not"
                        f" '{record_type}': leave recordType out, or pick another template.",
                        ["recordType"],
                    )
                steps, record_type = template.steps, template.record_type
                description = description or template.description
            seq = await authoring.create(
                ctx.session,
                ctx.services.registry,
                viewer,
                input.name,
                description,
                record_type or "lead",
                input.is_personal,
                steps,
            )
            return {"sequence": Sequence.from_row(seq)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(
        description="Name and description, while inactive; on an active sequence they go to its "
        "draft revision (`draft { name description }`) and become the sequence's when the "
        "revision is activated."
    )
    async def update_sequence(self, info: Info, input: UpdateSequenceInput) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            seq = await authoring.update(
                ctx.session, viewer, sequence_pk(input.sequence_id), input.name, input.description
            )
            return {"sequence": Sequence.from_row(seq)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(
        description="Insert a step after another; the old follower follows the new step."
    )
    async def add_step(self, info: Info, input: AddStepInput) -> StepPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            pk = sequence_pk(input.sequence_id)
            _, after_key = step_ref(input.after_step_id, "afterStepId")
            ws, step = await authoring.add_step(
                ctx.session,
                ctx.services.registry,
                viewer,
                pk,
                after_key,
                _branch(input.branch) or Branch.NEXT,
                input.type,
                input.name,
                input.description,
                _json(input.config, "config"),
            )
            return {
                "sequence": Sequence.from_row(ws.sequence),
                "step": _step_after(ctx, ws, step.key),
            }

        return await mutate(info, StepPayload, run)

    @strawberry.mutation
    async def update_step(self, info: Info, input: UpdateStepInput) -> StepPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            pk, key = await sequence_of_step(ctx, viewer, input.step_id)
            ws, step = await authoring.update_step(
                ctx.session,
                ctx.services.registry,
                viewer,
                pk,
                key,
                input.name,
                input.description,
                _json(input.config, "config"),
            )
            return {
                "sequence": Sequence.from_row(ws.sequence),
                "step": _step_after(ctx, ws, step.key),
            }

        return await mutate(info, StepPayload, run)

    @strawberry.mutation
    async def move_step(self, info: Info, input: MoveStepInput) -> StepPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            pk, key = await sequence_of_step(ctx, viewer, input.step_id)
            _, after_key = step_ref(input.after_step_id, "afterStepId")
            ws = await authoring.move_step(
                ctx.session,
                ctx.services.registry,
                viewer,
                pk,
                key,
                after_key,
                _branch(input.branch) or Branch.NEXT,
            )
            return {"sequence": Sequence.from_row(ws.sequence), "step": _step_after(ctx, ws, key)}

        return await mutate(info, StepPayload, run)

    @strawberry.mutation(description="Remove a step; a condition goes with the branch not kept.")
    async def remove_step(self, info: Info, input: RemoveStepInput) -> RemoveStepPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            pk, key = await sequence_of_step(ctx, viewer, input.step_id)
            ws, removed = await authoring.remove_step(
                ctx.session, ctx.services.registry, viewer, pk, key, _branch(input.keep_branch)
            )
            return {"sequence": Sequence.from_row(ws.sequence), "removed_step_keys": removed}

        return await mutate(info, RemoveStepPayload, run)

    @strawberry.mutation(description="Replace the whole step tree at once.")
    async def set_sequence_steps(self, info: Info, input: SetSequenceStepsInput) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            registry = ctx.services.registry
            org = await authoring.organization(ctx.session, viewer)
            if len(input.steps) > DRAFT_STEPS_FACTOR * org.max_steps + 1:  # +1: START
                raise DomainError.of(
                    ErrorCode.TOO_MANY_STEPS,
                    f"A sequence has at most {org.max_steps} steps; a draft can't hold"
                    f" {len(input.steps)}.",
                    ["steps"],
                )
            steps = [_step_input(registry, s, i) for i, s in enumerate(input.steps)]
            ws = await authoring.set_steps(
                ctx.session, registry, viewer, sequence_pk(input.sequence_id), steps
            )
            return {"sequence": Sequence.from_row(ws.sequence)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(
        description="Who works the activities; only while the sequence is inactive."
    )
    async def set_sequence_assignment(
        self, info: Info, input: SetSequenceAssignmentInput
    ) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            condition = input.member_condition
            seq = await authoring.set_assignment(
                ctx.session,
                viewer,
                sequence_pk(input.sequence_id),
                input.assign_to.value,
                input.field_name,
                condition.team_roles if condition else None,
                condition.user_roles if condition else None,
            )
            return {"sequence": Sequence.from_row(seq)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(
        description="Exit on reply, exit criteria, skip non-working time, skip opted-out email"
        " (only while inactive), and the send window."
    )
    async def set_sequence_options(
        self, info: Info, input: SetSequenceOptionsInput
    ) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            seq = await authoring.set_options(
                ctx.session,
                viewer,
                sequence_pk(input.sequence_id),
                input.exit_on_reply,
                input.skip_non_working_time,
                input.skip_opted_out_email,
                window_request(input.send_window),
                input.exit_criteria.criteria() if input.exit_criteria is not None else None,
            )
            return {"sequence": Sequence.from_row(seq)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(description="Give a sequence to another user or an OWNER team.")
    async def assign_sequence_owner(
        self, info: Info, input: AssignSequenceOwnerInput
    ) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            seq = await authoring.assign_owner(
                ctx.session,
                viewer,
                sequence_pk(input.sequence_id),
                decode_id(input.user_id, "User", ["userId"]) if input.user_id else None,
                decode_id(input.team_id, "Team", ["teamId"]) if input.team_id else None,
            )
            return {"sequence": Sequence.from_row(seq)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(description="Activate, or make an open revision the current version.")
    async def activate_sequence(self, info: Info, input: ActivateSequenceInput) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            pk = sequence_pk(input.sequence_id)
            latest = await store.latest_versions(ctx.session, [pk])
            ws = await _in_version(
                lambda: latest[pk].id if pk in latest else None,
                authoring.activate(
                    ctx.session,
                    ctx.services.registry,
                    viewer,
                    pk,
                    input.change_description,
                    ctx.services.engine.clock.now(),
                ),
            )
            return {"sequence": Sequence.from_row(ws.sequence)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(description="Stop accepting connections; running ones are disconnected.")
    async def deactivate_sequence(
        self, info: Info, input: DeactivateSequenceInput
    ) -> DeactivateSequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            seq, count = await authoring.deactivate(
                ctx.session, viewer, sequence_pk(input.sequence_id), ctx.services.engine.clock.now()
            )
            return {"sequence": Sequence.from_row(seq), "disconnected_count": count}

        return await mutate(info, DeactivateSequencePayload, run)

    @strawberry.mutation(
        description="An editable draft of an active sequence; the active one keeps running."
    )
    async def create_sequence_revision(
        self, info: Info, input: CreateSequenceRevisionInput
    ) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            ws = await authoring.create_revision(
                ctx.session, ctx.services.registry, viewer, sequence_pk(input.sequence_id)
            )
            return {"sequence": Sequence.from_row(ws.sequence)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(
        description="Throw the open draft revision away; the active version and the sequence's "
        "name and description stay as they are."
    )
    async def discard_sequence_revision(
        self, info: Info, input: DiscardSequenceRevisionInput
    ) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            seq = await authoring.discard_revision(
                ctx.session, viewer, sequence_pk(input.sequence_id)
            )
            return {"sequence": Sequence.from_row(seq)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(
        description="End an automated email step's A/B test: the winning variant becomes the"
        " step's only content in a new version, activated at once for an active sequence"
        " (refused while a draft revision is open). Connections keep the version they started"
        " on."
    )
    async def choose_variant_winner(
        self, info: Info, input: ChooseVariantWinnerInput
    ) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            ws = await authoring.choose_variant_winner(
                ctx.session,
                ctx.services.registry,
                viewer,
                sequence_pk(input.sequence_id),
                input.step_key,
                input.variant,
                input.change_description,
            )
            return {"sequence": Sequence.from_row(ws.sequence)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(
        description="A full copy with a new name, inactive: steps, assignment, options and tags."
    )
    async def clone_sequence(self, info: Info, input: CloneSequenceInput) -> SequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            seq = await authoring.clone(
                ctx.session,
                ctx.services.registry,
                viewer,
                sequence_pk(input.sequence_id),
                input.name,
            )
            return {"sequence": Sequence.from_row(seq)}

        return await mutate(info, SequencePayload, run)

    @strawberry.mutation(
        description="Delete; an active sequence only with force (records are disconnected)."
    )
    async def delete_sequence(
        self, info: Info, input: DeleteSequenceInput
    ) -> DeleteSequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            count = await authoring.delete(
                ctx.session,
                viewer,
                sequence_pk(input.sequence_id),
                input.force,
                ctx.services.engine.clock.now(),
            )
            return {"deleted_sequence_id": input.sequence_id, "disconnected_count": count}

        return await mutate(info, DeleteSequencePayload, run)


def _step_after(ctx: Context, ws: authoring.Workspace, key: str) -> Any:
    checker = ws.checker

    async def loaded() -> Checker:
        return checker

    design = Design(ws.sequence.id, ws.version, ws.graph, ctx.services.registry, loaded)
    return step_of(design, key)
