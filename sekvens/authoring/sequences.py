"""Sequence lifecycle and design: every change a manager makes, with the product's rules.

Functions take the session of the caller's transaction and raise `DomainError` on refusal;
the caller commits. Nothing here knows GraphQL.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.authoring.checks import Checker
from sekvens.domain import sequence_access as access
from sekvens.domain.assignment import AssignTo
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.exit_criteria import ExitCriteria
from sekvens.domain.global_ids import to_global_id
from sekvens.domain.life_cycles import (
    ConnectionReason,
    ConnectionStatus,
    SequenceStatus,
    VersionStatus,
)
from sekvens.domain.records import FieldType
from sekvens.domain.roles import Actor, Role
from sekvens.domain.send_windows import SendWindowRequest
from sekvens.domain.sequence_graph import SequenceGraph, Step, new_key
from sekvens.domain.sequence_rules import check_description, check_name, check_step_text
from sekvens.domain.teams import TeamKind
from sekvens.domain.webhooks import WebhookEventType
from sekvens.plugins.api import SequenceInfo
from sekvens.plugins.email.send import VARIANT_LABELS, AutoEmail, with_winner
from sekvens.plugins.registry import Registry
from sekvens.storage import audit, organizations, record_types
from sekvens.storage import sequences as store
from sekvens.storage import tags as tag_store
from sekvens.storage.connection_endings import end_connections
from sekvens.storage.db import is_postgres
from sekvens.storage.tables import Connection, Organization, Sequence, SequenceVersion, Team, User
from sekvens.storage.types import utcnow
from sekvens.storage.webhooks import emit

ROLE_NAMES = frozenset(r.value for r in Role)


def sequence_gid(sequence_id: int) -> str:
    return to_global_id("Sequence", sequence_id)


async def organization(session: AsyncSession, actor: Actor) -> Organization:
    """The actor's organization, refusing with FEATURE_DISABLED when sequences are off."""
    org = await organizations.existing(session, actor.organization_id)
    if not org.sequences_enabled:
        raise DomainError.of(
            ErrorCode.FEATURE_DISABLED,
            "Sequences are not enabled for this organization: a system administrator must "
            "enable them (updateOrganizationSettings with sequencesEnabled: true).",
        )
    return org


async def get_sequence(
    session: AsyncSession, actor: Actor, sequence_id: int, edit: bool = True
) -> Sequence:
    seq = await session.get(Sequence, sequence_id)
    if seq is None or seq.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such sequence.", ["sequenceId"])
    await organization(session, actor)
    if edit:
        access.check_edit(actor.roles, actor.user_id, seq.is_personal, seq.owner_user_id)
    return seq


def _log(
    session: AsyncSession,
    actor: Actor,
    seq: Sequence,
    action: str,
    version: int | None = None,
    **detail: Any,
) -> None:
    audit.record(
        session, actor.organization_id, actor.user_id, action, "sequence", seq.id, detail, version
    )


@dataclass
class Workspace:
    """A sequence being worked on: its design version, steps as a graph, and its checker."""

    sequence: Sequence
    version: SequenceVersion
    graph: SequenceGraph
    checker: Checker

    def problems(self) -> list[Problem]:
        return self.checker.problems(self.graph, sequence_gid(self.sequence.id))


async def checker_for(
    session: AsyncSession, registry: Registry, org: Organization, record_type_id: int
) -> Checker:
    infos = await record_types.load_infos(session, org.id)
    by_id: dict[str, SequenceInfo] = {}
    for pk, key, name, status, type_name in await store.lookup(session, org.id):
        active = status == SequenceStatus.ACTIVE
        info = SequenceInfo(sequence_gid(pk), key, name, type_name, active)
        by_id[info.id] = by_id[info.key] = info
    return Checker(
        registry=registry,
        record_type=infos[record_type_id][1],
        call_outcomes=tuple(org.call_outcomes),
        max_steps=org.max_steps,
        lookup_sequence=by_id.get,
    )


async def workspace(
    session: AsyncSession,
    registry: Registry,
    org: Organization,
    seq: Sequence,
    version: SequenceVersion | None = None,
) -> Workspace:
    if version is None:
        version = (await store.latest_versions(session, [seq.id]))[seq.id]
    rows = (await store.steps_of(session, [version.id]))[version.id]
    graph = SequenceGraph(store.to_steps(rows), registry.shape)
    return Workspace(
        seq, version, graph, await checker_for(session, registry, org, seq.record_type_id)
    )


async def editable(
    session: AsyncSession, registry: Registry, actor: Actor, sequence_id: int
) -> Workspace:
    """The version that edits go to: a draft, or a new draft when an inactive sequence's
    newest version was activated before. An active sequence without a draft refuses."""
    seq = await get_sequence(session, actor, sequence_id)
    org = await organization(session, actor)
    ws = await workspace(session, registry, org, seq)
    if ws.version.status == VersionStatus.DRAFT:
        return ws
    if seq.status == SequenceStatus.ACTIVE:
        raise DomainError.of(
            ErrorCode.SEQUENCE_ACTIVE,
            "An active sequence can't be edited: create a revision (createSequenceRevision) "
            "or deactivate it first.",
            ["sequenceId"],
        )
    ws.version = await store.add_version(
        session, seq, ws.version.number + 1, ws.graph.to_list(), actor.user_id
    )
    return ws


async def save(session: AsyncSession, ws: Workspace) -> None:
    ws.graph.check()
    await store.replace_steps(session, ws.version.id, ws.graph.to_list())
    ws.sequence.updated_at = utcnow()


# --- Creating -----------------------------------------------------------------------------


async def create(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    name: str,
    description: str,
    record_type: str,
    is_personal: bool,
    steps: Seq[Step] | None = None,
    key: str | None = None,
) -> Sequence:
    org = await organization(session, actor)
    access.check_create(actor.roles, is_personal)
    problems = check_name(name) + check_description(description)
    type_row = await record_types.get_by_name(session, org.id, record_type)
    if type_row is None:
        problems.append(
            Problem(
                ErrorCode.UNKNOWN_RECORD_TYPE, f"No record type '{record_type}'.", ("recordType",)
            )
        )
    if problems or type_row is None:  # no type_row: its problem is in `problems`
        raise DomainError(problems)
    seq = Sequence(
        organization_id=org.id,
        key=key or new_key(),
        name=name.strip(),
        description=description,
        search_text=store.search_text(name.strip(), description),
        record_type_id=type_row.id,
        is_personal=is_personal,
        owner_user_id=actor.user_id,
        skip_non_working_time=org.skip_non_working_time,
        created_by_id=actor.user_id,
    )
    session.add(seq)
    await session.flush()
    graph = (
        SequenceGraph(list(steps), registry.shape) if steps else SequenceGraph.blank(registry.shape)
    )
    graph.check()
    await store.add_version(session, seq, 1, graph.to_list(), actor.user_id)
    _log(session, actor, seq, "sequence.created", 1, name=seq.name, personal=is_personal)
    return seq


async def update(
    session: AsyncSession, actor: Actor, sequence_id: int, name: str | None, description: str | None
) -> Sequence:
    """Rename or re-describe. An inactive sequence changes at once (and its open draft with
    it); an active one only through its draft revision, whose name and description become the
    sequence's when the revision is activated: until then everyone sees the running ones."""
    seq = await get_sequence(session, actor, sequence_id)
    latest = (await store.latest_versions(session, [seq.id]))[seq.id]
    drafting = seq.status == SequenceStatus.ACTIVE
    if drafting and latest.status != VersionStatus.DRAFT:
        raise DomainError.of(
            ErrorCode.SEQUENCE_ACTIVE,
            "The name and description of an active sequence are read-only: create a revision "
            "or deactivate it first.",
            ["sequenceId"],
        )
    problems = (check_name(name) if name is not None else []) + check_description(description)
    if problems:
        raise DomainError(problems)
    if drafting:
        latest.name = name.strip() if name is not None else draft_name(latest, seq)
        latest.description = (
            description if description is not None else draft_description(latest, seq)
        )
    else:
        if name is not None:
            seq.name = name.strip()
        if description is not None:
            seq.description = description
        seq.search_text = store.search_text(seq.name, seq.description)
        if latest.status == VersionStatus.DRAFT:
            latest.name, latest.description = seq.name, seq.description
    seq.updated_at = utcnow()
    _log(
        session,
        actor,
        seq,
        "sequence.updated",
        latest.number,
        name=latest.name if drafting else seq.name,
        draft=drafting,
    )
    return seq


def draft_name(version: SequenceVersion, seq: Sequence) -> str:
    """The name a version gives its sequence (rows from before drafts had names: the sequence's)."""
    return version.name if version.name is not None else seq.name


def draft_description(version: SequenceVersion, seq: Sequence) -> str:
    return version.description if version.description is not None else seq.description


# --- Designing ----------------------------------------------------------------------------


def _check_step_text(name: str | None, description: str | None, key: str | None = None) -> None:
    problems = check_step_text(name, description, key)
    if problems:
        raise DomainError(problems)


def new_step(
    registry: Registry,
    type_key: str,
    name: str | None,
    description: str | None,
    config: dict[str, Any] | None,
    key: str | None = None,
) -> Step:
    step_type = registry.get(type_key)
    if step_type is None:
        raise DomainError.of(
            ErrorCode.UNKNOWN_STEP_TYPE,
            f"Step type '{type_key}' is not installed; stepTypes lists those that are.",
            ["type"],
        )
    _check_step_text(name, description, key)
    return Step(
        key=key or new_key(),
        type=type_key,
        name=(name or "").strip() or step_type.display_name,
        description=description or "",
        config=dict(config or {}),
    )


async def add_step(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequence_id: int,
    after_key: str,
    branch: str,
    type_key: str,
    name: str | None,
    description: str | None,
    config: dict[str, Any] | None,
) -> tuple[Workspace, Step]:
    ws = await editable(session, registry, actor, sequence_id)
    step = ws.graph.insert(
        new_step(registry, type_key, name, description, config), after_key, branch
    )
    await save(session, ws)
    _log(
        session,
        actor,
        ws.sequence,
        "sequence.step_added",
        ws.version.number,
        step=step.key,
        type=type_key,
    )
    return ws, step


async def update_step(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequence_id: int,
    key: str,
    name: str | None,
    description: str | None,
    config: dict[str, Any] | None,
) -> tuple[Workspace, Step]:
    ws = await editable(session, registry, actor, sequence_id)
    step = ws.graph.steps.get(key)
    if step is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such step in this sequence.", ["stepId"])
    _check_step_text(name, description)
    if name is not None:
        step.name = name.strip() or step.name
    if description is not None:
        step.description = description
    if config is not None:
        step.config = dict(config)
    await save(session, ws)
    _log(session, actor, ws.sequence, "sequence.step_updated", ws.version.number, step=key)
    return ws, step


async def move_step(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequence_id: int,
    key: str,
    after_key: str,
    branch: str,
) -> Workspace:
    ws = await editable(session, registry, actor, sequence_id)
    ws.graph.move(key, after_key, branch)
    await save(session, ws)
    _log(session, actor, ws.sequence, "sequence.step_moved", ws.version.number, step=key)
    return ws


async def remove_step(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequence_id: int,
    key: str,
    keep_branch: str | None,
) -> tuple[Workspace, list[str]]:
    ws = await editable(session, registry, actor, sequence_id)
    removed = ws.graph.remove(key, keep_branch)
    await save(session, ws)
    _log(session, actor, ws.sequence, "sequence.step_removed", ws.version.number, steps=removed)
    return ws, removed


async def set_steps(
    session: AsyncSession, registry: Registry, actor: Actor, sequence_id: int, steps: Seq[Step]
) -> Workspace:
    """Replace the whole tree (designers that save everything, and import)."""
    ws = await editable(session, registry, actor, sequence_id)
    keys = [s.key for s in steps]
    if len(set(keys)) != len(keys):
        raise DomainError.of(ErrorCode.DUPLICATE, "Two steps share a key.", ["steps"])
    for i, s in enumerate(steps):
        try:
            _check_step_text(s.name, s.description, s.key)
        except DomainError as e:
            raise DomainError(
                [Problem(p.code, p.message, ("steps", str(i), *p.field)) for p in e.problems]
            ) from None
    ws.graph = SequenceGraph(list(steps), ws.graph.shape_of)
    await save(session, ws)
    _log(session, actor, ws.sequence, "sequence.steps_set", ws.version.number, count=len(steps))
    return ws


# --- Lifecycle ----------------------------------------------------------------------------


async def activate(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequence_id: int,
    change_description: str | None,
    now: datetime | None = None,
) -> Workspace:
    """Activate an inactive sequence, or make an active sequence's draft revision current,
    at `now` (the engine's clock; default the system's)."""
    seq = await get_sequence(session, actor, sequence_id)
    org = await organization(session, actor)
    ws = await workspace(session, registry, org, seq)
    replacing = seq.status == SequenceStatus.ACTIVE
    if replacing and ws.version.status != VersionStatus.DRAFT:
        raise DomainError.of(
            ErrorCode.SEQUENCE_ACTIVE, "The sequence is already active.", ["sequenceId"]
        )
    if replacing and not (change_description or "").strip():
        raise DomainError.of(
            ErrorCode.CHANGE_DESCRIPTION_REQUIRED,
            "Say what changed: activating a revision needs a change description.",
            ["changeDescription"],
        )
    problems = ws.problems()
    if problems:
        raise DomainError(problems)
    if not replacing:
        await _check_active_limit(session, org)
    now = now or utcnow()
    if ws.version.status == VersionStatus.DRAFT:
        if seq.current_version_id is not None and seq.current_version_id != ws.version.id:
            previous = await session.get(SequenceVersion, seq.current_version_id)
            if previous is not None:
                previous.status = VersionStatus.RETIRED
        ws.version.status = VersionStatus.ACTIVE
        ws.version.activated_at = now
        ws.version.activated_by_id = actor.user_id
        ws.version.change_description = (change_description or "").strip()
        seq.current_version_id = ws.version.id
        # The draft's name and description are the sequence's from now on.
        seq.name = draft_name(ws.version, seq)
        seq.description = draft_description(ws.version, seq)
        seq.search_text = store.search_text(seq.name, seq.description)
        ws.version.name, ws.version.description = seq.name, seq.description
    seq.status = SequenceStatus.ACTIVE
    seq.activated_at = now
    seq.updated_at = now
    _log(
        session,
        actor,
        seq,
        "sequence.revision_activated" if replacing else "sequence.activated",
        ws.version.number,
        change=(change_description or "").strip(),
    )
    await emit(
        session,
        seq.organization_id,
        WebhookEventType.SEQUENCE_REVISED if replacing else WebhookEventType.SEQUENCE_ACTIVATED,
        {
            "sequenceId": to_global_id("Sequence", seq.id),
            "name": seq.name,
            "version": ws.version.number,
            "changeDescription": (change_description or "").strip(),
        },
        now,
    )
    return ws


async def _check_active_limit(session: AsyncSession, org: Organization) -> None:
    """Holds under concurrent activations: PostgreSQL locks the organization row; SQLite's
    write transactions (BEGIN IMMEDIATE) are serial already."""
    if is_postgres(session):
        await session.execute(
            select(Organization.id).where(Organization.id == org.id).with_for_update()
        )
    active = await store.count_active(session, org.id)
    if active >= org.max_active_sequences:
        raise DomainError.of(
            ErrorCode.ACTIVE_LIMIT_REACHED,
            f"The organization has {active} active sequences, the most it allows "
            f"({org.max_active_sequences}); deactivate one first.",
            ["sequenceId"],
        )


async def _end_all_connections(session: AsyncSession, seq: Sequence, now: datetime) -> int:
    """End the sequence's running connections (PARENT_SEQUENCE_DEACTIVATED); how many."""
    ended = await end_connections(
        session,
        Connection.sequence_id == seq.id,
        ConnectionStatus.DISCONNECTED,
        ConnectionReason.PARENT_SEQUENCE_DEACTIVATED,
        now,
    )
    return len(ended)


async def deactivate(
    session: AsyncSession, actor: Actor, sequence_id: int, now: datetime | None = None
) -> tuple[Sequence, int]:
    """Deactivate the sequence, ending its running connections at `now` (the engine's clock;
    default the system's)."""
    now = now or utcnow()
    seq = await get_sequence(session, actor, sequence_id)
    if seq.status != SequenceStatus.ACTIVE:
        raise DomainError.of(
            ErrorCode.SEQUENCE_INACTIVE, "The sequence is not active.", ["sequenceId"]
        )
    seq.status = SequenceStatus.INACTIVE
    seq.updated_at = utcnow()
    disconnected = await _end_all_connections(session, seq, now)
    _log(session, actor, seq, "sequence.deactivated", None, disconnected=disconnected)
    data = {
        "sequenceId": to_global_id("Sequence", seq.id),
        "name": seq.name,
        "disconnected": disconnected,
    }
    await emit(session, seq.organization_id, WebhookEventType.SEQUENCE_DEACTIVATED, data, now)
    return seq, disconnected


async def create_revision(
    session: AsyncSession, registry: Registry, actor: Actor, sequence_id: int
) -> Workspace:
    seq = await get_sequence(session, actor, sequence_id)
    org = await organization(session, actor)
    if seq.status != SequenceStatus.ACTIVE:
        raise DomainError.of(
            ErrorCode.SEQUENCE_INACTIVE,
            "Only an active sequence needs a revision; edit an inactive one directly.",
            ["sequenceId"],
        )
    ws = await workspace(session, registry, org, seq)
    if ws.version.status == VersionStatus.DRAFT:
        raise DomainError.of(
            ErrorCode.DRAFT_EXISTS, f"Revision {ws.version.number} is open already.", ["sequenceId"]
        )
    ws.version = await store.add_version(
        session, seq, ws.version.number + 1, ws.graph.to_list(), actor.user_id
    )
    _log(session, actor, seq, "sequence.revision_created", ws.version.number)
    return ws


async def discard_revision(session: AsyncSession, actor: Actor, sequence_id: int) -> Sequence:
    """Throw the open draft revision away: the newest activated version is the design again,
    and the sequence keeps the name and description it has (a draft's never reached it)."""
    seq = await get_sequence(session, actor, sequence_id)
    await organization(session, actor)
    latest = (await store.latest_versions(session, [seq.id]))[seq.id]
    if latest.status != VersionStatus.DRAFT or latest.number == 1:
        raise DomainError.of(
            ErrorCode.NO_DRAFT,
            "There is no draft revision to discard"
            + (
                ": the sequence has never been activated (edit or delete it instead)."
                if latest.status == VersionStatus.DRAFT
                else "."
            ),
            ["sequenceId"],
        )
    number = latest.number
    await store.discard_version(session, latest)
    seq.updated_at = utcnow()
    _log(session, actor, seq, "sequence.revision_discarded", number)
    return seq


async def choose_variant_winner(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequence_id: int,
    step_key: str,
    label: str,
    change_description: str | None,
) -> Workspace:
    """End the A/B test of an automated email step: variant `label`'s subject and body become
    the step's template, with no variants left, in a new version. An active sequence gets it
    as a revision activated at once (changeDescription, default "Variant B won"), so it
    refuses while a draft revision is open (DRAFT_EXISTS); an inactive one as an edit of its
    draft. Connections keep the version they started on."""
    seq = await get_sequence(session, actor, sequence_id)
    active = seq.status == SequenceStatus.ACTIVE
    ws = await (create_revision if active else editable)(session, registry, actor, sequence_id)
    step = ws.graph.steps.get(step_key)
    if step is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such step in this sequence.", ["stepKey"])
    variants = step.config.get("variants") if step.type == AutoEmail.key else None
    if not variants:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            f"Step '{step.name}' is not an automated email with an A/B test (variants).",
            ["stepKey"],
        )
    config = with_winner(step.config, label)
    if config is None:
        labels = VARIANT_LABELS[: 1 + len(variants)]
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            f"The step has no variant '{label}'; its variants are {', '.join(labels)}.",
            ["variant"],
        )
    step.config = config
    await save(session, ws)
    change = (change_description or "").strip() or f"Variant {label} won"
    _log(
        session,
        actor,
        seq,
        "sequence.variant_winner_chosen",
        ws.version.number,
        step=step_key,
        variant=label,
        change=change,
    )
    if active:
        ws = await activate(session, registry, actor, sequence_id, change)
    return ws


async def clone(
    session: AsyncSession, registry: Registry, actor: Actor, sequence_id: int, name: str | None
) -> Sequence:
    """A full copy, inactive. Anyone who may view a sequence may copy it."""
    source = await get_sequence(session, actor, sequence_id, edit=False)
    org = await organization(session, actor)
    ws = await workspace(session, registry, org, source)
    copy = await create(
        session,
        registry,
        actor,
        name if name is not None else f"{source.name} (copy)"[:160],
        source.description,
        ws.checker.record_type.name,
        is_personal=source.is_personal or not actor.has_any(access.ORG_SEQUENCE_EDITORS),
        steps=ws.graph.to_list(),
    )
    copy.assign_to, copy.assign_field = source.assign_to, source.assign_field
    copy.member_condition = dict(source.member_condition)
    copy.exit_on_reply, copy.skip_non_working_time = (
        source.exit_on_reply,
        source.skip_non_working_time,
    )
    copy.skip_opted_out_email = source.skip_opted_out_email
    copy.exit_criteria = source.exit_criteria
    copy.send_window = source.send_window
    tags = await tag_store.tags_by_sequence(session, [source.id])
    tag_ids = [t.id for t in tags.get(source.id, [])]
    if tag_ids:
        await tag_store.set_sequence_tags(session, copy.id, tag_ids)
    _log(session, actor, copy, "sequence.cloned", 1, source=source.id, tags=tag_ids)
    return copy


async def delete(
    session: AsyncSession, actor: Actor, sequence_id: int, force: bool, now: datetime | None = None
) -> int:
    seq = await get_sequence(session, actor, sequence_id)
    if seq.status == SequenceStatus.ACTIVE and not force:
        raise DomainError.of(
            ErrorCode.SEQUENCE_ACTIVE,
            "The sequence is active: deactivate it first, or delete with force: true "
            "(its records are disconnected).",
            ["force"],
        )
    disconnected = await _end_all_connections(session, seq, now or utcnow())
    _log(session, actor, seq, "sequence.deleted", None, name=seq.name, disconnected=disconnected)
    seq.current_version_id = None
    await session.flush()
    await session.delete(seq)
    return disconnected


# --- Properties ---------------------------------------------------------------------------


def _require_inactive(seq: Sequence, what: str) -> None:
    if seq.status == SequenceStatus.ACTIVE:
        raise DomainError.of(
            ErrorCode.SEQUENCE_ACTIVE,
            f"Deactivate the sequence before changing its {what}.",
            ["sequenceId"],
        )


async def set_assignment(
    session: AsyncSession,
    actor: Actor,
    sequence_id: int,
    assign_to: str,
    field_name: str | None,
    team_roles: Seq[str] | None,
    user_roles: Seq[str] | None,
) -> Sequence:
    seq = await get_sequence(session, actor, sequence_id)
    _require_inactive(seq, "assignment")
    if assign_to not in set(AssignTo):
        raise DomainError.of(
            ErrorCode.INVALID_VALUE, f"assignTo is one of {', '.join(AssignTo)}.", ["assignTo"]
        )
    problems: list[Problem] = []
    if assign_to == AssignTo.RECORD_FIELD:
        infos = await record_types.load_infos(session, actor.organization_id)
        info = infos[seq.record_type_id][1]
        f = info.fields.get(field_name or "")
        if not field_name:
            problems.append(
                Problem(
                    ErrorCode.REQUIRED,
                    "Name the user-lookup field that names the seller.",
                    ("fieldName",),
                )
            )
        elif f is None:
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_FIELD,
                    f"{info.name} has no field '{field_name}'.",
                    ("fieldName",),
                )
            )
        elif f.type is not FieldType.USER_LOOKUP:
            problems.append(
                Problem(
                    ErrorCode.WRONG_FIELD_TYPE,
                    f"'{field_name}' is not a user-lookup field.",
                    ("fieldName",),
                )
            )
    elif field_name:
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "A field name applies only to RECORD_FIELD.",
                ("fieldName",),
            )
        )
    condition = {
        k: sorted({v.strip() for v in vals if v.strip()})
        for k, vals in (("team_roles", team_roles or ()), ("user_roles", user_roles or ()))
        if vals
    }
    if condition and assign_to not in (AssignTo.OWNING_TEAM, AssignTo.ACCESS_TEAM):
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "A member condition applies only to team assignments.",
                ("memberCondition",),
            )
        )
    for i, role in enumerate(condition.get("user_roles", [])):
        if role not in ROLE_NAMES:
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_ROLE,
                    f"No role '{role}'.",
                    ("memberCondition", "userRoles", str(i)),
                )
            )
    if problems:
        raise DomainError(problems)
    seq.assign_to, seq.assign_field, seq.member_condition = assign_to, field_name or None, condition
    seq.updated_at = utcnow()
    _log(
        session,
        actor,
        seq,
        "sequence.assignment_set",
        None,
        assign_to=assign_to,
        field=field_name,
        condition=condition,
    )
    return seq


async def set_options(
    session: AsyncSession,
    actor: Actor,
    sequence_id: int,
    exit_on_reply: bool | None,
    skip_non_working_time: bool | None,
    skip_opted_out_email: bool | None = None,
    send_window: SendWindowRequest | None = None,
    exit_criteria: ExitCriteria | None = None,
) -> Sequence:
    """Change the options given (None: as they are). The send window may change while the
    sequence is active (it applies to emails reached from then on); the others may not.
    Exit criteria are checked against the sequence's record type."""
    seq = await get_sequence(session, actor, sequence_id)
    if send_window is None or (
        exit_on_reply,
        skip_non_working_time,
        skip_opted_out_email,
        exit_criteria,
    ) != (None, None, None, None):
        _require_inactive(seq, "options")
    window = send_window.stored() if send_window is not None else None
    if exit_criteria is not None:
        infos = await record_types.load_infos(session, seq.organization_id)
        _, info = infos[seq.record_type_id]
        if problems := exit_criteria.check(info):
            raise DomainError(problems)
        seq.exit_criteria = exit_criteria.stored()
    if exit_on_reply is not None:
        seq.exit_on_reply = exit_on_reply
    if skip_non_working_time is not None:
        seq.skip_non_working_time = skip_non_working_time
    if skip_opted_out_email is not None:
        seq.skip_opted_out_email = skip_opted_out_email
    if send_window is not None:
        seq.send_window = window
    seq.updated_at = utcnow()
    _log(
        session,
        actor,
        seq,
        "sequence.options_set",
        None,
        exit_on_reply=seq.exit_on_reply,
        skip_non_working_time=seq.skip_non_working_time,
        skip_opted_out_email=seq.skip_opted_out_email,
        send_window=seq.send_window,
        exit_criteria=seq.exit_criteria,
    )
    return seq


async def assign_owner(
    session: AsyncSession, actor: Actor, sequence_id: int, user_id: int | None, team_id: int | None
) -> Sequence:
    """Owners change only here: to a user, or to an OWNER team (organization sequences)."""
    seq = await get_sequence(session, actor, sequence_id)
    if not actor.has_any(access.SEQUENCE_ADMINS):
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            "Changing a sequence's owner needs the role SEQUENCE_MANAGER or SYSTEM_ADMINISTRATOR.",
        )
    if (user_id is None) == (team_id is None):
        raise DomainError.of(
            ErrorCode.INVALID_VALUE, "Give a user or a team, not both.", ["userId"]
        )
    if user_id is not None:
        user = await session.get(User, user_id)
        if user is None or user.organization_id != actor.organization_id:
            raise DomainError.of(
                ErrorCode.UNKNOWN_USER, "No such user in this organization.", ["userId"]
            )
        seq.owner_user_id, seq.owner_team_id = user_id, None
    else:
        if seq.is_personal:
            raise DomainError.of(
                ErrorCode.INVALID_VALUE, "A personal sequence is owned by a user.", ["teamId"]
            )
        team = await session.get(Team, team_id)
        if team is None or team.organization_id != actor.organization_id:
            raise DomainError.of(
                ErrorCode.UNKNOWN_TEAM, "No such team in this organization.", ["teamId"]
            )
        if team.kind != TeamKind.OWNER:
            raise DomainError.of(
                ErrorCode.WRONG_TEAM_KIND, "Only an OWNER team owns sequences.", ["teamId"]
            )
        seq.owner_user_id, seq.owner_team_id = None, team_id
    seq.updated_at = utcnow()
    _log(session, actor, seq, "sequence.owner_assigned", None, user_id=user_id, team_id=team_id)
    return seq
