"""A seller's work: complete, skip, snooze and reassign activities, one or many at a time.

Every action goes through `act`, the single mutations with one activity. It validates, then
applies: the call's arguments first (a problem refuses the whole call), then each activity
(loaded with its assignees in two statements; a problem refuses that activity alone), then
it changes the workable ones together, so a refused activity needs no savepoint and the
statements do not grow with the number of activities.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.activity_actions import (
    CLOSES,
    NO_SUCH_ACTIVITY,
    ActivityAction,
    ActivityFacts,
    Work,
    activity_problem,
    request_problems,
)
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.global_ids import to_global_id
from sekvens.domain.life_cycles import ActivityStatus, ConnectionPhase
from sekvens.domain.roles import Actor
from sekvens.domain.steps import ActivityKind
from sekvens.domain.webhooks import WebhookEventType
from sekvens.storage import audit, organizations
from sekvens.storage.db import is_postgres
from sekvens.storage.tables import Activity, ActivityAssignee, Connection, User
from sekvens.storage.webhooks import activity_data, emit

#: The webhook a closing action sends.
CLOSE_HOOKS = {
    ActivityStatus.COMPLETED: WebhookEventType.ACTIVITY_COMPLETED,
    ActivityStatus.SKIPPED: WebhookEventType.ACTIVITY_SKIPPED,
}


async def act(
    session: AsyncSession,
    actor: Actor,
    activity_ids: Seq[int | None],
    work: Work,
    now: datetime,
) -> list[Activity | Problem]:
    """Do `work` to each activity of `activity_ids` (None: an id that names none) that
    `actor` may work; per activity, in order, the changed activity or why it was refused.
    DomainError when the call as a whole is wrong (nothing changed then)."""
    problems = request_problems(work, activity_ids, now)
    if problems:
        raise DomainError(problems)
    users = await _users(session, actor, work.user_ids)
    rows, assignees = await _load(session, actor, [pk for pk in activity_ids if pk is not None])
    call_outcomes: list[str] = []
    if work.action == ActivityAction.COMPLETE and any(
        a.activity_kind == ActivityKind.CALL for a in rows.values()
    ):
        call_outcomes = list(
            (await organizations.existing(session, actor.organization_id)).call_outcomes
        )
    results: list[Activity | Problem] = []
    for pk in activity_ids:
        row = rows.get(pk) if pk is not None else None
        if row is None:
            results.append(NO_SUCH_ACTIVITY)
            continue
        facts = ActivityFacts(row.status, row.activity_kind, frozenset(assignees.get(row.id, ())))
        results.append(activity_problem(actor, work, facts, call_outcomes) or row)
    done = [r for r in results if isinstance(r, Activity)]
    if done:
        await _apply(session, actor, work, done, users, now)
    return results


async def act_on_one(
    session: AsyncSession, actor: Actor, activity_id: int, work: Work, now: datetime
) -> Activity:
    """`act` on one activity; its refusal as a DomainError."""
    [result] = await act(session, actor, [activity_id], work, now)
    if isinstance(result, Problem):
        raise DomainError(result)
    return result


async def _users(session: AsyncSession, actor: Actor, user_ids: Seq[int]) -> list[int]:
    """The users to assign, without repeats; each an active user of the organization."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return wanted
    found = set(
        await session.scalars(
            select(User.id).where(
                User.id.in_(wanted),
                User.organization_id == actor.organization_id,
                User.is_active.is_(True),
            )
        )
    )
    if any(u not in found for u in wanted):
        raise DomainError.of(
            ErrorCode.UNKNOWN_USER, "No such active user in this organization.", ["userIds"]
        )
    return wanted


async def _load(
    session: AsyncSession, actor: Actor, ids: list[int]
) -> tuple[dict[int, Activity], dict[int, set[int]]]:
    """The organization's activities of `ids` by id, and their assignees (two statements).
    On PostgreSQL the activities are locked, in id order, until the transaction ends: two
    writers of one activity (two sellers, a seller and the engine ending its connection)
    take turns, and the second sees what the first did (SQLite's writers take turns anyway)."""
    if not ids:
        return {}, {}
    stmt = (
        select(Activity)
        .where(Activity.id.in_(ids), Activity.organization_id == actor.organization_id)
        .order_by(Activity.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    rows = {a.id: a for a in await session.scalars(stmt)}
    assignees: dict[int, set[int]] = {}
    if rows:
        pairs = await session.execute(
            select(ActivityAssignee.activity_id, ActivityAssignee.user_id).where(
                ActivityAssignee.activity_id.in_(list(rows))
            )
        )
        for activity_id, user_id in pairs:
            assignees.setdefault(activity_id, set()).add(user_id)
    return rows, assignees


async def _apply(
    session: AsyncSession,
    actor: Actor,
    work: Work,
    activities: list[Activity],
    users: list[int],
    now: datetime,
) -> None:
    """Change the activities that passed the checks, with an audit entry each."""
    detail: dict[str, object]
    status = CLOSES.get(work.action)
    if status is not None:
        for activity in activities:
            activity.status = status
            activity.outcome = work.outcome if work.action == ActivityAction.COMPLETE else None
            activity.notes = work.notes or activity.notes
            activity.closed_at, activity.closed_by_id = now, actor.user_id
            hook = CLOSE_HOOKS.get(status)
            if hook is not None:
                data = activity_data(
                    activity,
                    outcome=activity.outcome,
                    closedAt=now.isoformat(),
                    closedById=to_global_id("User", actor.user_id),
                )
                await emit(session, actor.organization_id, hook, data, now)
        await _move_on(session, activities, now)
        action, detail = f"activity.{status.lower()}", {"outcome": work.outcome}
    elif work.action == ActivityAction.SNOOZE and work.until is not None:
        for activity in activities:
            activity.due_at = work.until
        action, detail = "activity.snoozed", {"until": work.until.isoformat()}
    else:
        ids = [a.id for a in activities]
        await session.execute(delete(ActivityAssignee).where(ActivityAssignee.activity_id.in_(ids)))
        session.add_all(ActivityAssignee(activity_id=a, user_id=u) for a in ids for u in users)
        action, detail = "activity.reassigned", {"user_ids": users}
    await audit.record_rows(
        session,
        [
            audit.entry(
                session, actor.organization_id, actor.user_id, action, "activity", a.id, detail
            )
            for a in activities
        ],
    )


async def _move_on(session: AsyncSession, activities: list[Activity], now: datetime) -> None:
    """The connections waiting on these closed activities advance (the worker runs them now)."""
    waiting = {(a.connection_id, a.step_key) for a in activities}
    connections = await session.scalars(
        select(Connection).where(Connection.id.in_({c for c, _ in waiting}))
    )
    for conn in connections:
        if conn.phase == ConnectionPhase.ACTIVITY and (conn.id, conn.current_step_key) in waiting:
            conn.phase, conn.next_run_at = ConnectionPhase.WAIT, now
