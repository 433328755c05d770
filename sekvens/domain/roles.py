"""Roles and the role sets that the product's rules name."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    SYSTEM_ADMINISTRATOR = "SYSTEM_ADMINISTRATOR"
    SEQUENCE_MANAGER = "SEQUENCE_MANAGER"
    SALES_MANAGER = "SALES_MANAGER"
    SALESPERSON = "SALESPERSON"


#: Administer the organization: users, roles, tokens of others, teams, record types, settings.
ADMINISTRATORS = frozenset({Role.SYSTEM_ADMINISTRATOR})
#: Push CRM records and engagement events in (integrations run as one of these).
RECORD_WRITERS = frozenset({Role.SYSTEM_ADMINISTRATOR, Role.SALES_MANAGER, Role.SEQUENCE_MANAGER})
#: Act on anyone's records, connections and activities; a salesperson acts on their own.
SUPERVISORS = frozenset({Role.SYSTEM_ADMINISTRATOR, Role.SEQUENCE_MANAGER, Role.SALES_MANAGER})


def describe(roles: frozenset[Role]) -> str:
    """'SYSTEM_ADMINISTRATOR or SEQUENCE_MANAGER', for error messages."""
    names = sorted(r.value for r in roles)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


@dataclass(frozen=True)
class Actor:
    """A user acting within their organization, with their roles."""

    user_id: int
    organization_id: int
    roles: frozenset[Role]

    def has_any(self, roles: frozenset[Role]) -> bool:
        return bool(self.roles & roles)


def owns_record(
    actor: Actor,
    team_ids: frozenset[int],
    owner_user_id: int | None,
    owner_team_id: int | None,
    access_team_id: int | None,
) -> bool:
    """A record is a seller's own when they own it, or a team of theirs owns it or has
    access to it."""
    return owner_user_id == actor.user_id or bool({owner_team_id, access_team_id} & team_ids)
