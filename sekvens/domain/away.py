"""A seller's away period (leave): who works their activities, and when their automated
emails may go.

A period is [starts, ends) in UTC, with an optional delegate. An activity whose assignee is
away when it falls due goes to the delegate under the organization's DELEGATE policy, when
the delegate is an active user who is not away then themselves (chains are not followed);
otherwise it stays with the seller and is held until they are back. An automated email
sent with an away seller's identity waits until the period ends, whatever the policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.life_cycles import AwayPolicy


class HoldReason(StrEnum):
    """Why an open activity waits."""

    #: Its assignees are away when it is due (and nobody took it over).
    ASSIGNEE_AWAY = "ASSIGNEE_AWAY"


@dataclass(frozen=True)
class AwayPeriod:
    starts: datetime
    ends: datetime
    delegate_id: int | None = None

    @classmethod
    def of(
        cls, starts: datetime | None, ends: datetime | None, delegate_id: int | None
    ) -> AwayPeriod | None:
        """The stored period (None when there is none)."""
        if starts is None or ends is None:
            return None
        return cls(starts, ends, delegate_id)

    def covers(self, at: datetime) -> bool:
        return self.starts <= at < self.ends

    def overlaps(self, other: AwayPeriod) -> bool:
        return self.starts < other.ends and other.starts < self.ends


class StoredUser(Protocol):
    """A stored user's columns the rules read."""

    @property
    def id(self) -> int: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def away_from(self) -> datetime | None: ...
    @property
    def away_until(self) -> datetime | None: ...
    @property
    def away_delegate_id(self) -> int | None: ...


@dataclass(frozen=True)
class Seller:
    """What the rules look at of a user."""

    user_id: int
    is_active: bool = True
    away: AwayPeriod | None = None

    @classmethod
    def of(cls, user: StoredUser) -> Seller:
        return cls(
            user.id,
            user.is_active,
            AwayPeriod.of(user.away_from, user.away_until, user.away_delegate_id),
        )

    def away_at(self, at: datetime) -> bool:
        return self.away is not None and self.away.covers(at)


def works_for(seller: Seller, delegate: Seller | None, policy: AwayPolicy, at: datetime) -> int:
    """Who works an activity of `seller` that falls due at `at`: their delegate when the
    seller is away then, the policy is DELEGATE, and the delegate is active and not away
    then; otherwise the seller."""
    if (
        seller.away_at(at)
        and policy is AwayPolicy.DELEGATE
        and delegate is not None
        and seller.away is not None
        and delegate.user_id == seller.away.delegate_id
        and delegate.user_id != seller.user_id
        and delegate.is_active
        and not delegate.away_at(at)
    ):
        return delegate.user_id
    return seller.user_id


def assign(
    assignees: Sequence[int], sellers: Mapping[int, Seller], policy: AwayPolicy, at: datetime
) -> tuple[list[int], int | None]:
    """The assignees of an activity due at `at`, each away one replaced by their delegate as
    `works_for` says, without repeats; and the first one replaced (None: nobody was)."""
    result: list[int] = []
    delegated_from = None
    for user_id in assignees:
        seller = sellers.get(user_id, Seller(user_id))
        delegate_id = seller.away.delegate_id if seller.away else None
        delegate = sellers.get(delegate_id) if delegate_id is not None else None
        worker = works_for(seller, delegate, policy, at)
        if worker != user_id and delegated_from is None:
            delegated_from = user_id
        if worker not in result:
            result.append(worker)
    return result, delegated_from


def held_until(periods: Sequence[AwayPeriod | None], due: datetime) -> datetime | None:
    """An open activity due at `due` (now, when it is overdue) waits while every one of its
    assignees is away then: until the first of them is back. None when it does not wait."""
    if not periods or any(p is None or not p.covers(due) for p in periods):
        return None
    return min(p.ends for p in periods if p is not None)


def sender_hold(period: AwayPeriod | None, at: datetime) -> datetime | None:
    """When an automated email whose sender has `period` may go, if not at `at`: the end of
    the period. None when it may go at `at`."""
    return period.ends if period is not None and period.covers(at) else None


def period_problems(
    period: AwayPeriod, now: datetime, user_id: int, delegate: Seller | None
) -> list[Problem]:
    """What is wrong with `period` as `user_id`'s away period, set at `now`; `delegate` is the
    named delegate (an existing user of the organization), None when none is named."""
    problems: list[Problem] = []
    if period.ends <= period.starts:
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, "'until' must be after 'from'.", ("until",))
        )
    elif period.ends <= now:
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, "'until' must be in the future.", ("until",))
        )
    if delegate is None:
        return problems
    if delegate.user_id == user_id:
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, "A user can't be their own delegate.", ("delegateId",))
        )
    elif not delegate.is_active:
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, "The delegate is deactivated.", ("delegateId",))
        )
    elif delegate.away is not None and delegate.away.overlaps(period):
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "The delegate is away themselves during this period.",
                ("delegateId",),
            )
        )
    return problems
