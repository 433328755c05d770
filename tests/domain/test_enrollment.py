"""Enrollment rules on their own: a new match is a change from not matching (or nothing) to
matching; re-enrollment once ever, or after the gap (Hypothesis at the boundary); the stored
form round-trips."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sekvens.domain.enrollment import EnrollmentRule, RecordState, RuleFilter, rules_of
from sekvens.domain.field_conditions import FieldCondition, FieldOperator
from sekvens.domain.records import FieldInfo, FieldType, RecordTypeInfo

LEAD = RecordTypeInfo("lead", fields={"score": FieldInfo("score", FieldType.NUMBER)})
HIGH = FieldCondition("score", FieldOperator.GREATER_THAN, 50)
RULE = EnrollmentRule("high", "High", RuleFilter(stage="Develop", search="acme"), (HIGH,))
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def state(**kw: object) -> RecordState:
    base = RecordState(None, None, "Develop", True, "ACME Oy", "E1", {"score": 60})
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_new_match_is_a_change_to_matching() -> None:
    assert RULE.starts_matching(LEAD, None, state())
    assert not RULE.starts_matching(LEAD, state(), state(name="Acme AB"))
    assert RULE.starts_matching(LEAD, state(fields={"score": 50}), state())
    assert RULE.starts_matching(LEAD, state(stage="Qualify"), state())
    assert RULE.starts_matching(LEAD, state(is_active=False), state())
    assert not RULE.starts_matching(LEAD, None, state(is_active=False))
    assert not RULE.starts_matching(LEAD, None, state(name="Other"))
    assert RULE.starts_matching(LEAD, None, state(name="Other", external_id="acme-1"))


def test_without_reenrollment_once_ever_by_this_rule() -> None:
    assert RULE.may_reenroll([], NOW) is None
    assert RULE.may_reenroll([(None, NOW)], NOW) is None  # a user's connection
    assert RULE.may_reenroll([("other", NOW)], NOW) is None
    assert RULE.may_reenroll([("high", NOW - timedelta(days=999))], NOW) == "ENROLLED_BEFORE"


@given(st.integers(0, 60), st.integers(0, 60 * 24 * 60))
def test_reenrollment_waits_for_the_gap_after_the_last_connection(days: int, minutes: int) -> None:
    rule = replace(RULE, allow_reenrollment=True, reenroll_after_days=days)
    last = NOW - timedelta(minutes=minutes)
    past = [("high", last - timedelta(days=100)), (None, last)]
    allowed = rule.may_reenroll(past, NOW) is None
    assert allowed is (minutes >= days * 24 * 60)


def test_the_stored_form_round_trips() -> None:
    rule = replace(RULE, allow_reenrollment=True, reenroll_after_days=3)
    rule = replace(rule, filter=replace(rule.filter, owner_user_id=7, external_ids=("a", "b")))
    assert rules_of([rule.stored()]) == [rule]
    assert rules_of(None) == []
