"""The away rules (sekvens/domain/away.py) at their boundaries, by Hypothesis: who works an
activity due at a time, when an activity and an email of an away seller may go (compared with
a minute-by-minute walk of the clock), and which periods are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sekvens.domain.away import (
    AwayPeriod,
    Seller,
    assign,
    held_until,
    period_problems,
    sender_hold,
    works_for,
)
from sekvens.domain.errors import ErrorCode
from sekvens.domain.life_cycles import AwayPolicy

BASE = datetime(2026, 12, 1, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=600)


def t(minute: int) -> datetime:
    return BASE + timedelta(minutes=minute)


@st.composite
def periods(draw: st.DrawFn, delegate_id: int | None = None) -> AwayPeriod | None:
    if draw(st.booleans()):
        return None
    starts = draw(minutes)
    return AwayPeriod(t(starts), t(starts + draw(st.integers(1, 300))), delegate_id)


def walk_until_back(period: AwayPeriod | None, at: datetime) -> datetime | None:
    """The first minute from `at` at which the period no longer covers the clock."""
    if period is None or not period.covers(at):
        return None
    moment = at
    while period.covers(moment):
        moment += timedelta(minutes=1)
    return moment


@given(periods(), minutes)
def test_an_email_waits_exactly_until_its_sender_is_back(
    period: AwayPeriod | None, at: int
) -> None:
    assert sender_hold(period, t(at)) == walk_until_back(period, t(at))


@given(st.lists(periods(), min_size=1, max_size=3), minutes)
def test_an_activity_waits_while_all_its_assignees_are_away(
    found: list[AwayPeriod | None], due: int
) -> None:
    until = held_until(found, t(due))
    if any(p is None or not p.covers(t(due)) for p in found):
        assert until is None
        return
    backs = [walk_until_back(p, t(due)) for p in found]
    assert until == min(b for b in backs if b is not None)


@given(
    periods(delegate_id=2),
    periods(),
    st.booleans(),
    st.sampled_from(list(AwayPolicy)),
    minutes,
)
def test_the_delegate_works_it_only_when_the_seller_is_away_and_the_delegate_can(
    away: AwayPeriod | None,
    delegate_away: AwayPeriod | None,
    delegate_active: bool,
    policy: AwayPolicy,
    at: int,
) -> None:
    seller = Seller(1, True, away)
    delegate = Seller(2, delegate_active, delegate_away)
    worker = works_for(seller, delegate, policy, t(at))
    can = delegate_active and not (delegate_away is not None and delegate_away.covers(t(at)))
    expected = seller.away_at(t(at)) and policy is AwayPolicy.DELEGATE and can
    assert worker == (2 if expected else 1)
    # Without a delegate named, or another user passed as the delegate: the seller keeps it.
    assert works_for(Seller(1, True, away), None, policy, t(at)) == 1
    if away is not None:
        undelegated = AwayPeriod(away.starts, away.ends, None)
        assert works_for(Seller(1, True, undelegated), delegate, policy, t(at)) == 1


@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True),
    st.dictionaries(st.integers(1, 4), periods(), max_size=4),
    st.dictionaries(st.integers(1, 4), st.integers(1, 5), max_size=4),
    minutes,
)
def test_assign_replaces_each_away_assignee_once_without_repeats(
    assignees: list[int],
    away: dict[int, AwayPeriod | None],
    delegates: dict[int, int],
    at: int,
) -> None:
    sellers = {
        u: Seller(u, True, AwayPeriod(p.starts, p.ends, delegates.get(u)) if p else None)
        for u, p in away.items()
    }
    result, delegated_from = assign(assignees, sellers, AwayPolicy.DELEGATE, t(at))
    assert len(result) == len(set(result)) <= len(assignees)
    workers = []
    for u in assignees:
        seller = sellers.get(u, Seller(u))
        delegate_id = seller.away.delegate_id if seller.away else None
        delegate = sellers.get(delegate_id) if delegate_id is not None else None
        workers.append(works_for(seller, delegate, AwayPolicy.DELEGATE, t(at)))
    assert result == list(dict.fromkeys(workers))
    moved = [u for u, w in zip(assignees, workers, strict=True) if u != w]
    assert delegated_from == (moved[0] if moved else None)
    held, nobody = assign(assignees, sellers, AwayPolicy.HOLD, t(at))
    assert (held, nobody) == (assignees, None)


@given(minutes, st.integers(-5, 5), st.integers(-5, 5))
def test_periods_end_after_they_start_and_after_now(starts: int, length: int, now: int) -> None:
    period = AwayPeriod(t(starts), t(starts + length))
    codes = {(p.code, p.field) for p in period_problems(period, t(starts + now), 1, None)}
    bad = length <= 0 or starts + length <= starts + now
    assert codes == ({(ErrorCode.INVALID_VALUE, ("until",))} if bad else set())


@given(minutes, st.integers(1, 100), minutes, st.integers(1, 100))
def test_a_delegate_away_in_an_overlapping_period_is_refused(
    starts: int, length: int, other_starts: int, other_length: int
) -> None:
    period = AwayPeriod(t(starts), t(starts + length))
    theirs = AwayPeriod(t(other_starts), t(other_starts + other_length))
    delegate = Seller(2, True, theirs)
    problems = period_problems(period, t(0) - timedelta(days=1), 1, delegate)
    shared = any(period.covers(t(m)) and theirs.covers(t(m)) for m in range(0, 800))
    assert [p.field for p in problems] == ([("delegateId",)] if shared else [])


def test_a_user_is_not_their_own_delegate_and_a_deactivated_one_is_refused() -> None:
    period = AwayPeriod(t(10), t(20))
    for delegate in (Seller(1), Seller(2, is_active=False)):
        [problem] = period_problems(period, t(0), 1, delegate)
        assert (problem.code, problem.field) == (ErrorCode.INVALID_VALUE, ("delegateId",))
