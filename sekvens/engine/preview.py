"""The timeline preview: the dated path a sequence would take for one record, without running it.

`plan` walks the sequence version's tree from START and asks each step's plugin how it
schedules (`StepType.preview`); the times come from the functions the engine itself calls
(`domain.due_times` for activities and waits, `domain.send_windows.recipient_window` for
automated email), in the calendar and send window the engine would use for that record. So a
connection made at `start` whose activities are completed when due, and whose conditions take
the branch shown, reaches each step when the preview says (tests/engine/test_sequence_preview.py
runs both and compares). `load` reads what `plan` needs, under the rules of connecting.
See docs/preview.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.authoring.sequences import get_sequence, organization
from sekvens.domain.assignment import AssignmentRule, resolve
from sekvens.domain.due_times import WorkingTime, activity_due, wait_ends, working_time
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.life_cycles import ConnectionReason, SequenceStatus
from sekvens.domain.records import DO_NOT_EMAIL_FIELD, RecordTypeInfo
from sekvens.domain.roles import SUPERVISORS, Actor, owns_record
from sekvens.domain.send_windows import RecipientWindow, recipient_window
from sekvens.domain.sequence_graph import SequenceGraph
from sekvens.domain.suppression import normalize
from sekvens.plugins.api import PreviewContext, RecordView, StepPreview
from sekvens.plugins.registry import Registry
from sekvens.storage import parties, record_types, suppression
from sekvens.storage import sequences as seq_store
from sekvens.storage.tables import Record, Sequence, SequenceVersion, TeamMember, User

log = logging.getLogger("sekvens.engine")

#: How a path ends when nothing follows its last step.
COMPLETED = ConnectionReason.SEQUENCE_COMPLETED.value
#: How a path ends at a step the engine could not run (unknown type, bad config, a plugin
#: that fails): the connection would end in ERROR.
STEP_FAILED = ConnectionReason.STEP_FAILED.value

ACTIVITY_ASSUMPTION = "the activity is completed when it is due"


@dataclass(frozen=True)
class Schedule:
    """What the times depend on besides the steps: the start, the assignee's calendar, the
    recipient's send window and whether automated email may reach them."""

    start: datetime
    skip_non_working_time: bool
    calendar: WorkingTime
    window: RecipientWindow | None = None
    do_not_email: bool = False
    suppressed: frozenset[str] = frozenset()
    skip_opted_out_email: bool = False


@dataclass
class BranchTime:
    """A branch out of a step: when it starts, the step it leads to (None: the path ends),
    and whether the connection can take it at all."""

    branch: str
    starts_at: datetime
    next_key: str | None
    assumes: str = ""
    expected: bool = False
    #: False: the connection can't take it (it needs events on an email not sent by then).
    possible: bool = True


@dataclass
class StepTime:
    """One step of the timeline. `reached_at`: when the connection reaches it; `due_at`: when
    its activity is due; `send_at`: when its automated email goes out; `wait_until`: when its
    wait or time limit ends. `ends`: the connection ends here (a reason), `problem`: the engine
    could not run it."""

    key: str
    type: str
    name: str
    parent_key: str | None
    branch: str | None
    depth: int
    reached_at: datetime
    due_at: datetime | None = None
    send_at: datetime | None = None
    wait_until: datetime | None = None
    branches: list[BranchTime] = field(default_factory=list)
    ends: str | None = None
    note: str = ""
    assumes: list[str] = field(default_factory=list)
    problem: Problem | None = None


@dataclass
class PathTime:
    """One way through the sequence: the branches chosen at steps with several, its steps
    from START, and when and how it ends (`ending`: a connection reason)."""

    choices: list[str]
    step_keys: list[str]
    ends_at: datetime
    ending: str
    #: False: a branch on it is impossible (`BranchTime.possible`).
    possible: bool = True
    #: Automated emails of the path still waiting for their send window when it ends other
    #: than completed: ending the connection cancels them (a completed one lets them go).
    unsent: list[str] = field(default_factory=list)


@dataclass
class Timeline:
    steps: list[StepTime]
    paths: list[PathTime]


@dataclass(frozen=True)
class Subject:
    """The record as the plugins see it, with what they are told about the organization."""

    record: RecordView
    record_type: RecordTypeInfo
    call_outcomes: tuple[str, ...] = ()


def plan(graph: SequenceGraph, registry: Registry, subject: Subject, at: Schedule) -> Timeline:
    """Every step reachable from START with its times, in designer order (depth first, YES
    before NO), and every path in the same order. Pure: no I/O and no clock."""
    steps: list[StepTime] = []
    paths: list[PathTime] = []
    start = graph.start.key
    # (key, reached at, depth, branch taken into it, choices so far, keys so far, possible)
    stack: list[tuple[str, datetime, int, str | None, list[str], list[str], bool]] = [
        (start, at.start, 0, None, [], [], True)
    ]
    by_key: dict[str, StepTime] = {}
    while stack:
        key, reached, depth, came_by, choices, keys, possible = stack.pop()
        step = graph.steps[key]
        keys = [*keys, key]
        item = StepTime(
            key=key,
            type=step.type,
            name=step.name,
            parent_key=step.parent,
            branch=came_by,
            depth=depth,
            reached_at=reached,
        )
        steps.append(item)
        by_key[key] = item
        preview = _preview(graph, registry, subject, key, item)
        if preview is None:
            paths.append(PathTime(choices, keys, reached, STEP_FAILED, possible))
            continue
        item.name = item.name or _display_name(registry, step.type)
        item.note = preview.note
        if preview.assumes:
            item.assumes.append(preview.assumes)
        base = reached
        if preview.activity:
            base = item.due_at = activity_due(
                reached, skip_non_working_time=at.skip_non_working_time, calendar=at.calendar
            )
            item.assumes.append(ACTIVITY_ASSUMPTION)
        ends, note = preview.ends, preview.note
        follow = preview.paths
        if preview.email_to is not None:
            if at.do_not_email or normalize(preview.email_to) in at.suppressed:
                if at.skip_opted_out_email:
                    note = "The recipient opted out of automated email: the step is skipped."
                else:
                    ends, follow = ConnectionReason.OPTED_OUT.value, ()
                    note = "The recipient opted out of automated email: the connection ends."
            else:
                item.send_at = at.window.next_send_time(reached) if at.window else reached
        item.note, item.ends = note, ends
        if ends is not None or not follow:
            paths.append(PathTime(choices, keys, base, ends or COMPLETED, possible))
            continue
        sent = _previous_email_sent(graph, by_key, key)
        several = len(follow) > 1
        pushed = []
        for path in follow:
            starts = base
            if path.wait is not None:
                starts = wait_ends(
                    base,
                    path.wait,
                    skip_non_working_time=at.skip_non_working_time,
                    calendar=at.calendar,
                )
                item.wait_until = max(item.wait_until or starts, starts)
            elif path.until is not None:
                starts = max(path.until, base)
                item.wait_until = max(item.wait_until or starts, starts)
            child = graph.follower(key, path.branch.value)
            branch = BranchTime(path.branch.value, starts, child, path.assumes, path.expected)
            if path.needs_sent_email and sent is not None and sent >= starts:
                branch.possible = False
                branch.assumes = (
                    "impossible: the email it waits on goes out only when its send window"
                    f" opens ({sent.isoformat()}), not before this branch would start"
                )
            item.branches.append(branch)
            taken = [*choices, path.branch.value] if several else choices
            ok = possible and branch.possible
            if child is None:
                paths.append(PathTime(taken, keys, starts, COMPLETED, ok))
            else:
                pushed.append((child, starts, depth + 1, path.branch.value, taken, keys, ok))
        stack.extend(reversed(pushed))
    for p in paths:
        if p.ending != COMPLETED:
            p.unsent = [k for k in p.step_keys if (sent := by_key[k].send_at) and sent >= p.ends_at]
    return Timeline(steps, paths)


def _previous_email_sent(
    graph: SequenceGraph, by_key: dict[str, StepTime], key: str
) -> datetime | None:
    """When the automated email of the nearest step before `key` with an activity goes out
    (None: that step sends none)."""
    for k in graph.ancestors(key):
        if graph.shape(k).activity_kind is not None:
            return by_key[k].send_at
    return None


def _display_name(registry: Registry, type_key: str) -> str:
    step_type = registry.get(type_key)
    return step_type.display_name if step_type else type_key


def _preview(
    graph: SequenceGraph, registry: Registry, subject: Subject, key: str, item: StepTime
) -> StepPreview | None:
    """The step's `StepPreview`, or None with `item.problem` set when the engine could not
    run the step (its type is not installed, its config is refused, its plugin fails)."""
    step = graph.steps[key]
    step_type = registry.get(step.type)
    if step_type is None:
        item.problem = Problem(
            ErrorCode.UNKNOWN_STEP_TYPE,
            f"Step type '{step.type}' is not installed: the connection would end in ERROR here.",
            (),
            key,
        )
        return None
    config, problems = step_type.parse_config(step.config)
    if config is None:
        first = problems[0]
        item.problem = Problem(first.code, first.message, first.field, key)
        return None
    previous = next(
        (k for k in graph.ancestors(key) if graph.shape(k).activity_kind is not None), None
    )
    context = PreviewContext(
        record=subject.record,
        record_type=subject.record_type,
        step=registry.step_ref(graph, key),
        previous_activity=registry.step_ref(graph, previous) if previous else None,
        call_outcomes=subject.call_outcomes,
    )
    try:
        preview = step_type.preview(config, context)
        if not isinstance(preview, StepPreview):
            raise TypeError(f"preview returned {preview!r}, not a StepPreview")
        undeclared = [p.branch for p in preview.paths if p.branch not in step_type.branches]
        if undeclared:
            raise ValueError(f"preview chose branch {undeclared[0]}, which it does not declare")
    except Exception:
        log.exception("Previewing a step of type %s failed.", step.type)
        item.problem = Problem(
            ErrorCode.PLUGIN_ERROR,
            f"The plugin of step type '{step.type}' failed previewing this step; see the"
            " server log.",
            (),
            key,
        )
        return None
    return preview


# --- Loading ------------------------------------------------------------------------------


@dataclass
class Preview:
    """What `sequencePreview` answers: the sequence, version and record previewed, the
    assignee whose calendar counts, the schedule and the timeline."""

    sequence: Sequence
    version: SequenceVersion
    record: Record
    assignee: User | None
    schedule: Schedule
    timeline: Timeline


async def load(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequence_id: int,
    record_id: int,
    start_at: datetime | None,
    now: datetime,
    draft: bool = False,
) -> Preview:
    """The timeline of the record in the sequence, starting when `connectSequence` with
    `start_at` would start it now (`start_at` in the past or None: now). Refused (DomainError)
    as connecting refuses: NOT_FOUND (`sequenceId`, `recordId`), WRONG_RECORD_TYPE,
    RECORD_INACTIVE, FORBIDDEN (a salesperson's record not their own), NO_ASSIGNEE.

    The version: an active sequence's current one (what connecting uses); an inactive one's
    newest (what activating makes current); with `draft`, the newest in either case (an active
    sequence's draft revision, when it has one)."""
    seq = await get_sequence(session, actor, sequence_id, edit=False)
    org = await organization(session, actor)
    record = await session.get(Record, record_id)
    if record is None or record.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such record.", ["recordId"])
    if not actor.has_any(SUPERVISORS):
        teams = frozenset(
            await session.scalars(
                select(TeamMember.team_id).where(TeamMember.user_id == actor.user_id)
            )
        )
        if not owns_record(
            actor, teams, record.owner_user_id, record.owner_team_id, record.access_team_id
        ):
            raise DomainError.of(
                ErrorCode.FORBIDDEN,
                "A SALESPERSON previews only records they or their teams own (those they may"
                " connect).",
                ["recordId"],
            )
    if record.record_type_id != seq.record_type_id:
        raise DomainError.of(
            ErrorCode.WRONG_RECORD_TYPE,
            "The record is of another record type than the sequence.",
            ["recordId"],
        )
    if not record.is_active:
        raise DomainError.of(ErrorCode.RECORD_INACTIVE, "The record is deactivated.", ["recordId"])
    version = await _version(session, seq, draft)
    rule = AssignmentRule.of(seq.assign_to, seq.assign_field, seq.member_condition or {})
    found = await parties.parties_for(session, org.id, [record], rule, actor.user_id)
    assignees = resolve(rule, found[record.id])
    if not assignees:
        raise DomainError.of(
            ErrorCode.NO_ASSIGNEE,
            f"The assignment rule ({seq.assign_to}) names nobody for this record.",
            ["recordId"],
        )
    user = await session.get(User, assignees[0])
    fields: dict[str, Any] = dict(record.fields or {})
    addresses = {normalize(v) for v in fields.values() if isinstance(v, str) and "@" in v}
    schedule = Schedule(
        start=max(start_at, now) if start_at is not None else now,
        skip_non_working_time=seq.skip_non_working_time,
        calendar=working_time(
            org.default_time_zone,
            org.holidays,
            user.time_zone if user else None,
            user.working_hours if user else None,
        ),
        window=recipient_window(
            seq.send_window, org.send_window, fields, org.default_time_zone, org.holidays
        ),
        do_not_email=fields.get(DO_NOT_EMAIL_FIELD) is True,
        suppressed=frozenset(await suppression.suppressed_among(session, org.id, addresses)),
        skip_opted_out_email=seq.skip_opted_out_email,
    )
    type_name, info = (await record_types.load_infos(session, org.id))[record.record_type_id]
    subject = Subject(
        RecordView(
            id=str(record.id),
            record_type=type_name.name,
            external_id=record.external_id,
            name=record.name,
            fields=fields,
            stage=record.stage,
            owner_user_id=str(record.owner_user_id) if record.owner_user_id else None,
            owner_team_id=str(record.owner_team_id) if record.owner_team_id else None,
            is_active=record.is_active,
        ),
        info,
        tuple(org.call_outcomes),
    )
    rows = (await seq_store.steps_of(session, [version.id]))[version.id]
    graph = SequenceGraph(seq_store.to_steps(rows), registry.shape)
    try:
        timeline = plan(graph, registry, subject, schedule)
    except ValueError as e:  # the calendar maths: a start near year 9999, no working time
        raise DomainError.of(ErrorCode.INVALID_VALUE, str(e), ["startAt"]) from None
    return Preview(seq, version, record, user, schedule, timeline)


async def _version(session: AsyncSession, seq: Sequence, draft: bool) -> SequenceVersion:
    if seq.status == SequenceStatus.ACTIVE and seq.current_version_id is not None and not draft:
        version = await session.get(SequenceVersion, seq.current_version_id)
    else:
        version = (await seq_store.latest_versions(session, [seq.id])).get(seq.id)
    if version is None:  # every sequence has a version from its creation on
        raise LookupError(f"Sequence {seq.id} has no version.")
    return version
