"""A seller's work: complete, skip, snooze and reassign activities."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.life_cycles import ActivityStatus, ConnectionPhase
from sekvens.domain.roles import SUPERVISORS, Actor
from sekvens.domain.steps import ActivityKind
from sekvens.storage import audit, organizations
from sekvens.storage.tables import Activity, ActivityAssignee, Connection, User

NOTES_MAX = 4000


async def get_activity(session: AsyncSession, actor: Actor, activity_id: int) -> Activity:
    activity = await session.get(Activity, activity_id)
    if activity is None or activity.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such activity.", ["activityId"])
    assignees = set(
        await session.scalars(
            select(ActivityAssignee.user_id).where(ActivityAssignee.activity_id == activity.id)
        )
    )
    if actor.user_id not in assignees and not actor.has_any(SUPERVISORS):
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            "Only its assignees, or a SALES_MANAGER, SEQUENCE_MANAGER or SYSTEM_ADMINISTRATOR,"
            " work this activity.",
        )
    return activity


def _require_open(activity: Activity) -> None:
    if activity.status != ActivityStatus.OPEN:
        raise DomainError.of(
            ErrorCode.ACTIVITY_CLOSED,
            f"The activity is closed already ({activity.status}).",
            ["activityId"],
        )


async def _move_on(session: AsyncSession, activity: Activity, now: datetime) -> None:
    """The connection waiting on this activity advances (the worker runs it now)."""
    conn = await session.get(Connection, activity.connection_id)
    if (
        conn is not None
        and conn.phase == ConnectionPhase.ACTIVITY
        and conn.current_step_key == activity.step_key
    ):
        conn.phase, conn.next_run_at = ConnectionPhase.WAIT, now


async def close(
    session: AsyncSession,
    actor: Actor,
    activity_id: int,
    status: str,
    now: datetime,
    outcome: str | None = None,
    notes: str | None = None,
) -> Activity:
    """Complete (status COMPLETED, with a call's outcome) or skip (SKIPPED) an activity.
    With a team assignment, the first member to close it closes it for all."""
    activity = await get_activity(session, actor, activity_id)
    _require_open(activity)
    if notes is not None and len(notes) > NOTES_MAX:
        raise DomainError.of(
            ErrorCode.TOO_LONG, f"Notes are at most {NOTES_MAX} characters.", ["notes"]
        )
    if status == ActivityStatus.COMPLETED and activity.activity_kind == ActivityKind.CALL:
        org = await organizations.existing(session, actor.organization_id)
        if not outcome:
            raise DomainError.of(
                ErrorCode.REQUIRED, "A completed call needs its outcome.", ["outcome"]
            )
        if outcome not in org.call_outcomes:
            raise DomainError.of(
                ErrorCode.UNKNOWN_CALL_OUTCOME,
                f"'{outcome}' is not a call outcome; use one of: {', '.join(org.call_outcomes)}.",
                ["outcome"],
            )
    activity.status = status
    activity.outcome = outcome if status == ActivityStatus.COMPLETED else None
    activity.notes = notes or activity.notes
    activity.closed_at, activity.closed_by_id = now, actor.user_id
    await _move_on(session, activity, now)
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        f"activity.{status.lower()}",
        "activity",
        activity.id,
        {"outcome": outcome},
    )
    return activity


async def snooze(
    session: AsyncSession, actor: Actor, activity_id: int, until: datetime, now: datetime
) -> Activity:
    activity = await get_activity(session, actor, activity_id)
    _require_open(activity)
    if until <= now:
        raise DomainError.of(ErrorCode.INVALID_VALUE, "Snooze to a time in the future.", ["until"])
    activity.due_at = until
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "activity.snoozed",
        "activity",
        activity.id,
        {"until": until.isoformat()},
    )
    return activity


async def reassign(
    session: AsyncSession, actor: Actor, activity_id: int, user_ids: Seq[int]
) -> Activity:
    activity = await get_activity(session, actor, activity_id)
    _require_open(activity)
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        raise DomainError.of(ErrorCode.REQUIRED, "Name at least one user.", ["userIds"])
    users = set(
        await session.scalars(
            select(User.id).where(
                User.id.in_(wanted),
                User.organization_id == actor.organization_id,
                User.is_active.is_(True),
            )
        )
    )
    missing = [u for u in wanted if u not in users]
    if missing:
        raise DomainError.of(
            ErrorCode.UNKNOWN_USER, "No such active user in this organization.", ["userIds"]
        )
    await session.execute(
        delete(ActivityAssignee).where(ActivityAssignee.activity_id == activity.id)
    )
    session.add_all(ActivityAssignee(activity_id=activity.id, user_id=u) for u in wanted)
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "activity.reassigned",
        "activity",
        activity.id,
        {"user_ids": wanted},
    )
    return activity
