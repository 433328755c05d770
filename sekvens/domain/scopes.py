"""API token scopes: what a token may do, on top of what its user's roles allow.

A token holds one or more scopes. `FULL` is everything the user may do; the others let an
integration hold only what it needs: `READ` every query and subscription, `RECORDS_SYNC`
pushing CRM records in, `ENGAGEMENT_EVENTS` reporting what customers did and what their mail
servers answered (bounce messages). Any token may ask who it is (`viewer`) and sign
itself out (`signOut`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    FULL = "FULL"
    READ = "READ"
    RECORDS_SYNC = "RECORDS_SYNC"
    ENGAGEMENT_EVENTS = "ENGAGEMENT_EVENTS"


#: Mutations a narrower scope than FULL allows; every other mutation needs FULL.
MUTATION_SCOPES: dict[str, Scope] = {
    "upsertRecords": Scope.RECORDS_SYNC,
    "recordEngagementEvents": Scope.ENGAGEMENT_EVENTS,
    "recordBounceMessages": Scope.ENGAGEMENT_EVENTS,
    "recordInboundMessages": Scope.ENGAGEMENT_EVENTS,
}
#: Root fields any token may run, whatever its scopes: who am I, sign out, and exchanging a
#: sign-in link (which needs no token at all).
ALWAYS_ALLOWED = frozenset({"viewer", "signOut", "exchangeLoginLink", "__typename"})


def normalized(scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    """Scopes without repeats, in declaration order; FULL alone when FULL is among them."""
    wanted = set(scopes)
    if Scope.FULL in wanted:
        return (Scope.FULL,)
    return tuple(s for s in Scope if s in wanted)


def needed_scope(operation_type: str, field_name: str) -> Scope | None:
    """The scope a root field of a `query`, `mutation` or `subscription` needs besides FULL;
    None when any token may run it."""
    if field_name in ALWAYS_ALLOWED or field_name.startswith("__"):
        return None
    if operation_type == "mutation":
        return MUTATION_SCOPES.get(field_name, Scope.FULL)
    return Scope.READ


def missing_scope(scopes: frozenset[Scope], operation_type: str, field_name: str) -> Scope | None:
    """The scope `scopes` lack to run a root field, or None when they suffice."""
    needed = needed_scope(operation_type, field_name)
    if needed is None or Scope.FULL in scopes or needed in scopes:
        return None
    return needed
