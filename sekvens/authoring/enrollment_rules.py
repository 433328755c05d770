"""Setting a sequence's enrollment rules (segments), by its editors, active or not."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.authoring.sequences import get_sequence
from sekvens.domain.enrollment import EnrollmentRule, check_rules, stored_rules
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.roles import Actor
from sekvens.storage import audit, record_types
from sekvens.storage.tables import Sequence, Team, User
from sekvens.storage.types import utcnow


@dataclass(frozen=True)
class RuleRequest:
    """A rule as asked for, with the parts of its filter that only the request carries: the
    record type (if named, the sequence's) and isActive (only active records are enrolled)."""

    rule: EnrollmentRule
    record_type: str | None = None
    is_active: bool | None = None


async def set_enrollment_rules(
    session: AsyncSession, actor: Actor, sequence_id: int, requests: Seq[RuleRequest]
) -> Sequence:
    """Replace the sequence's rules. Allowed while it is active (they say who is connected
    from now on, not what the steps do); nothing changes when a rule has a problem."""
    seq = await get_sequence(session, actor, sequence_id)
    info = (await record_types.load_infos(session, actor.organization_id))[seq.record_type_id][1]
    rules = [r.rule for r in requests]
    problems = check_rules(rules, info)
    users = {r.filter.owner_user_id for r in rules} - {None}
    teams = {r.filter.owner_team_id for r in rules} - {None}
    known_users = (
        set(
            await session.scalars(
                select(User.id).where(
                    User.organization_id == seq.organization_id, User.id.in_(users)
                )
            )
        )
        if users
        else set()
    )
    known_teams = (
        set(
            await session.scalars(
                select(Team.id).where(
                    Team.organization_id == seq.organization_id, Team.id.in_(teams)
                )
            )
        )
        if teams
        else set()
    )
    for i, request in enumerate(requests):
        at = ("rules", str(i), "filter")
        f = request.rule.filter
        if request.record_type is not None and request.record_type != info.name:
            problems.append(
                Problem(
                    ErrorCode.WRONG_RECORD_TYPE,
                    f"The sequence's records are of type '{info.name}'.",
                    (*at, "recordType"),
                )
            )
        if request.is_active is False:
            problems.append(
                Problem(
                    ErrorCode.INVALID_VALUE,
                    "Only active records are enrolled: leave isActive out or true.",
                    (*at, "isActive"),
                )
            )
        if f.owner_user_id is not None and f.owner_user_id not in known_users:
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_USER,
                    "No such user in this organization.",
                    (*at, "ownerUserId"),
                )
            )
        if f.owner_team_id is not None and f.owner_team_id not in known_teams:
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_TEAM,
                    "No such team in this organization.",
                    (*at, "ownerTeamId"),
                )
            )
    if problems:
        raise DomainError(problems)
    seq.enrollment_rules = stored_rules(rules)
    seq.updated_at = utcnow()
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "sequence.enrollment_rules_set",
        "sequence",
        seq.id,
        {"rules": [r.key for r in rules]},
    )
    return seq
