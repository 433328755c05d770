"""Enrollment rules (segments) of a sequence: which records of its type are connected
automatically, their checks, their stored form, and matching a record's state (pure).

A rule matches an *active* record when the record passes the rule's filter (the language of
connectSequenceByFilter: owner, stage, search, external ids) and every field condition.
A record is enrolled when it starts matching: created matching, or changed from not
matching to matching (`starts_matching`); `may_reenroll` says whether its past connections
to the sequence allow it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.field_conditions import FieldCondition, all_hold, check_conditions
from sekvens.domain.records import RecordTypeInfo

RULES_MAX = 10
CONDITIONS_MAX = 20
KEY_MAX = 64
NAME_MAX = 200
SEARCH_MAX = 200
EXTERNAL_IDS_MAX = 1000
REENROLL_DAYS_MAX = 3650
KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def new_rule_key() -> str:
    return "rule-" + uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class RecordState:
    """What a rule reads of a record, before or after a change."""

    owner_user_id: int | None
    owner_team_id: int | None
    stage: str | None
    is_active: bool
    name: str
    external_id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class RuleFilter:
    """The filter of connectSequenceByFilter, without the record type (the sequence's)."""

    owner_user_id: int | None = None
    owner_team_id: int | None = None
    stage: str | None = None
    search: str | None = None
    external_ids: tuple[str, ...] | None = None

    def passes(self, r: RecordState) -> bool:
        # as storage.records.filtered: search is a lower-cased substring of name or id
        search = (self.search or "").strip().lower()
        return (
            (self.owner_user_id is None or r.owner_user_id == self.owner_user_id)
            and (self.owner_team_id is None or r.owner_team_id == self.owner_team_id)
            and (self.stage is None or r.stage == self.stage)
            and (not self.external_ids or r.external_id in self.external_ids)
            and (not search or search in r.name.lower() or search in r.external_id.lower())
        )


@dataclass(frozen=True)
class EnrollmentRule:
    key: str
    name: str
    filter: RuleFilter = field(default_factory=RuleFilter)
    field_conditions: tuple[FieldCondition, ...] = ()
    allow_reenrollment: bool = False
    reenroll_after_days: int = 0

    def matches(self, record_type: RecordTypeInfo, r: RecordState) -> bool:
        return (
            r.is_active
            and self.filter.passes(r)
            and all_hold(self.field_conditions, record_type, r.fields)
        )

    def starts_matching(
        self, record_type: RecordTypeInfo, before: RecordState | None, after: RecordState
    ) -> bool:
        """Whether a change from `before` (None: created) to `after` is a new match."""
        return self.matches(record_type, after) and not (
            before is not None and self.matches(record_type, before)
        )

    def may_reenroll(
        self, past: Sequence[tuple[str | None, datetime]], now: datetime
    ) -> str | None:
        """Why a record whose connections to the sequence were `past` (enrolled_by, started)
        is not enrolled again, or None when it may be (running ones are the connect rules')."""
        if not self.allow_reenrollment:
            if any(by == self.key for by, _ in past):
                return "ENROLLED_BEFORE"
            return None
        last = max((started for _, started in past), default=None)
        if last is not None and now - last < timedelta(days=self.reenroll_after_days):
            return "REENROLLMENT_GAP"
        return None

    def stored(self) -> dict[str, Any]:
        f = self.filter
        return {
            "key": self.key,
            "name": self.name,
            "filter": {
                "ownerUserId": f.owner_user_id,
                "ownerTeamId": f.owner_team_id,
                "stage": f.stage,
                "search": f.search,
                "externalIds": list(f.external_ids) if f.external_ids is not None else None,
            },
            "fieldConditions": [c.to_json() for c in self.field_conditions],
            "allowReenrollment": self.allow_reenrollment,
            "reenrollAfterDays": self.reenroll_after_days,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> EnrollmentRule:
        f = data.get("filter") or {}
        ids = f.get("externalIds")
        return cls(
            key=data["key"],
            name=data.get("name") or data["key"],
            filter=RuleFilter(
                owner_user_id=f.get("ownerUserId"),
                owner_team_id=f.get("ownerTeamId"),
                stage=f.get("stage"),
                search=f.get("search"),
                external_ids=tuple(ids) if ids is not None else None,
            ),
            field_conditions=tuple(
                FieldCondition.from_json(c) for c in data.get("fieldConditions") or ()
            ),
            allow_reenrollment=bool(data.get("allowReenrollment")),
            reenroll_after_days=int(data.get("reenrollAfterDays") or 0),
        )


def rules_of(stored: Sequence[Mapping[str, Any]] | None) -> list[EnrollmentRule]:
    """The rules kept in `sequences.enrollment_rules` (None: none)."""
    return [EnrollmentRule.of(r) for r in stored or ()]


def stored_rules(rules: Sequence[EnrollmentRule]) -> list[dict[str, Any]] | None:
    return [r.stored() for r in rules] or None


def check_rules(rules: Sequence[EnrollmentRule], record_type: RecordTypeInfo) -> list[Problem]:
    """Every problem with `rules` for the sequence's `record_type`, at `rules.N.…`; owners and
    teams named by a filter are the caller's to check."""
    if len(rules) > RULES_MAX:
        return [Problem(ErrorCode.TOO_MANY, f"At most {RULES_MAX} enrollment rules.", ("rules",))]
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        at = ("rules", str(i))
        if not KEY_RE.match(rule.key):
            problems.append(
                Problem(
                    ErrorCode.INVALID_VALUE,
                    f"A key is 1 to {KEY_MAX} letters, digits or _ . : -.",
                    (*at, "key"),
                )
            )
        elif rule.key in seen:
            problems.append(
                Problem(ErrorCode.DUPLICATE, "Another rule has this key.", (*at, "key"))
            )
        seen.add(rule.key)
        if len(rule.name) > NAME_MAX:
            problems.append(
                Problem(
                    ErrorCode.TOO_LONG, f"A name is at most {NAME_MAX} characters.", (*at, "name")
                )
            )
        f = rule.filter
        if f.stage is not None and f.stage not in record_type.stages:
            stages = ", ".join(record_type.stages) or "none"
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_STAGE,
                    f"'{f.stage}' is not a stage of {record_type.name} ({stages}).",
                    (*at, "filter", "stage"),
                )
            )
        if f.search is not None and len(f.search) > SEARCH_MAX:
            problems.append(
                Problem(
                    ErrorCode.TOO_LONG,
                    f"A search is at most {SEARCH_MAX} characters.",
                    (*at, "filter", "search"),
                )
            )
        if f.external_ids is not None and len(f.external_ids) > EXTERNAL_IDS_MAX:
            problems.append(
                Problem(
                    ErrorCode.TOO_MANY,
                    f"At most {EXTERNAL_IDS_MAX} external ids.",
                    (*at, "filter", "externalIds"),
                )
            )
        if len(rule.field_conditions) > CONDITIONS_MAX:
            problems.append(
                Problem(
                    ErrorCode.TOO_MANY,
                    f"At most {CONDITIONS_MAX} field conditions.",
                    (*at, "fieldConditions"),
                )
            )
        problems.extend(
            check_conditions(rule.field_conditions, record_type, (*at, "fieldConditions"))
        )
        if not 0 <= rule.reenroll_after_days <= REENROLL_DAYS_MAX:
            problems.append(
                Problem(
                    ErrorCode.INVALID_VALUE,
                    f"reenrollAfterDays is 0 to {REENROLL_DAYS_MAX}.",
                    (*at, "reenrollAfterDays"),
                )
            )
        elif rule.reenroll_after_days and not rule.allow_reenrollment:
            problems.append(
                Problem(
                    ErrorCode.INVALID_VALUE,
                    "reenrollAfterDays applies only with allowReenrollment.",
                    (*at, "reenrollAfterDays"),
                )
            )
    return problems
