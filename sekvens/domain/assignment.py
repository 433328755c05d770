"""Who works a connected record's activities: the sequence's assignment rule, resolved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class AssignTo(StrEnum):
    """Who works the activities of a connected record."""

    RECORD_OWNER = "RECORD_OWNER"
    RECORD_FIELD = "RECORD_FIELD"
    OWNING_TEAM = "OWNING_TEAM"
    ACCESS_TEAM = "ACCESS_TEAM"
    CURRENT_USER = "CURRENT_USER"


@dataclass(frozen=True)
class AssignmentRule:
    #: An `AssignTo` value.
    assign_to: str
    field_name: str | None = None
    team_roles: tuple[str, ...] = ()
    user_roles: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, assign_to: str, field_name: str | None, condition: Mapping[str, Sequence[str]]
    ) -> AssignmentRule:
        return cls(
            assign_to,
            field_name,
            tuple(condition.get("team_roles", ())),
            tuple(condition.get("user_roles", ())),
        )


@dataclass(frozen=True)
class Member:
    user_id: int
    team_role: str | None = None
    user_roles: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class RecordParties:
    """Everyone the rule might pick, for one record (inactive users already left out)."""

    owner_user_id: int | None = None
    owning_team: tuple[Member, ...] = ()
    access_team: tuple[Member, ...] = ()
    field_user_id: int | None = None
    current_user_id: int | None = None


def _pick(members: Sequence[Member], rule: AssignmentRule) -> list[int]:
    return [
        m.user_id
        for m in members
        if (not rule.team_roles or m.team_role in rule.team_roles)
        and (not rule.user_roles or m.user_roles & set(rule.user_roles))
    ]


def resolve(rule: AssignmentRule, parties: RecordParties) -> list[int]:
    """The assignees, in a stable order; empty when nobody qualifies."""
    if rule.assign_to == AssignTo.RECORD_OWNER:
        if parties.owner_user_id is not None:
            return [parties.owner_user_id]
        return [m.user_id for m in parties.owning_team]
    if rule.assign_to == AssignTo.RECORD_FIELD:
        return [parties.field_user_id] if parties.field_user_id is not None else []
    if rule.assign_to == AssignTo.OWNING_TEAM:
        return _pick(parties.owning_team, rule)
    if rule.assign_to == AssignTo.ACCESS_TEAM:
        return _pick(parties.access_team, rule)
    if rule.assign_to == AssignTo.CURRENT_USER:
        return [parties.current_user_id] if parties.current_user_id is not None else []
    raise ValueError(f"unknown assignment {rule.assign_to}")
