"""A seller's away period: set and clear it, and move or release the work it concerns.

A user sets their own; SALES_MANAGER, SEQUENCE_MANAGER and SYSTEM_ADMINISTRATOR users
anyone's in their organization. The rules are `domain/away.py`; what happens to which work
is docs/email.md#out-of-office-the-seller.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.actions.users import get_user
from sekvens.domain.away import AwayPeriod, Seller, period_problems
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.life_cycles import ActivityStatus, AwayPolicy, OutboxStatus, WaitReason
from sekvens.domain.roles import SUPERVISORS, Actor
from sekvens.storage import audit, organizations
from sekvens.storage.tables import Activity, ActivityAssignee, OutboxMessage, User


async def _user(session: AsyncSession, actor: Actor, user_id: int) -> User:
    user = await get_user(session, actor, user_id)
    if user.id != actor.user_id and not actor.has_any(SUPERVISORS):
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            "A user sets their own away period; a SALES_MANAGER, SEQUENCE_MANAGER or"
            " SYSTEM_ADMINISTRATOR anyone's.",
            ["userId"],
        )
    return user


async def set_away(
    session: AsyncSession,
    actor: Actor,
    user_id: int,
    starts: datetime,
    ends: datetime,
    delegate_id: int | None,
    now: datetime,
) -> User:
    """Set (or replace) a user's away period. Under the DELEGATE policy with a delegate,
    their open activities due before the period ends (from its start, for a period still
    to come) go to the delegate now; their automated emails held for an earlier period are
    released to be checked again."""
    user = await _user(session, actor, user_id)
    delegate = None
    if delegate_id is not None:
        delegate = await get_user(session, actor, delegate_id, "delegateId")
    period = AwayPeriod(starts, ends, delegate_id)
    problems = period_problems(
        period, now, user.id, Seller.of(delegate) if delegate is not None else None
    )
    if problems:
        raise DomainError(problems)
    user.away_from, user.away_until, user.away_delegate_id = starts, ends, delegate_id
    moved: list[int] = []
    org = await organizations.existing(session, actor.organization_id)
    if delegate_id is not None and org.away_policy == AwayPolicy.DELEGATE:
        moved = await _delegate(session, user.id, delegate_id, period, now)
    await _release(session, user, now)
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "user.away_set",
        "user",
        user.id,
        {
            "from": starts.isoformat(),
            "until": ends.isoformat(),
            "delegate_id": delegate_id,
            "delegated_activity_ids": moved,
        },
    )
    return user


async def clear_away(session: AsyncSession, actor: Actor, user_id: int, now: datetime) -> User:
    """End a user's away period now (or drop one to come): their held activities are theirs
    to work again and their held automated emails go (activities delegated stay delegated)."""
    user = await _user(session, actor, user_id)
    user.away_from = user.away_until = user.away_delegate_id = None
    await _release(session, user, now)
    audit.record(
        session, actor.organization_id, actor.user_id, "user.away_cleared", "user", user.id
    )
    return user


async def _delegate(
    session: AsyncSession, user_id: int, delegate_id: int, period: AwayPeriod, now: datetime
) -> list[int]:
    """Give the user's open activities due in the period to the delegate; their ids."""
    due = Activity.due_at < period.ends
    if period.starts > now:
        due = and_(due, Activity.due_at >= period.starts)
    ids = list(
        await session.scalars(
            select(Activity.id)
            .join(ActivityAssignee, ActivityAssignee.activity_id == Activity.id)
            .where(
                ActivityAssignee.user_id == user_id,
                Activity.status == ActivityStatus.OPEN,
                due,
            )
            .order_by(Activity.id)
        )
    )
    if not ids:
        return ids
    has_delegate = set(
        await session.scalars(
            select(ActivityAssignee.activity_id).where(
                ActivityAssignee.activity_id.in_(ids), ActivityAssignee.user_id == delegate_id
            )
        )
    )
    await session.execute(
        delete(ActivityAssignee).where(
            ActivityAssignee.activity_id.in_(ids), ActivityAssignee.user_id == user_id
        )
    )
    session.add_all(
        ActivityAssignee(activity_id=a, user_id=delegate_id) for a in ids if a not in has_delegate
    )
    await session.execute(
        update(Activity)
        .where(Activity.id.in_(ids))
        .values(delegated_from_id=user_id)
        .execution_options(synchronize_session=False)
    )
    return ids


async def _release(session: AsyncSession, user: User, now: datetime) -> None:
    """The user's automated emails held SENDER_AWAY are due now: the deliverer checks them
    again against the (new) period and their send window."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.organization_id == user.organization_id,
            OutboxMessage.status == OutboxStatus.QUEUED,
            OutboxMessage.wait_reason == WaitReason.SENDER_AWAY,
            OutboxMessage.from_address == user.email,
        )
        .values(next_attempt_at=now, send_after=now)
        .execution_options(synchronize_session=False)
    )
