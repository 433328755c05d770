"""Organization settings. Administrators only (the caller checks the role)."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode, ProblemList
from sekvens.domain.life_cycles import AwayPolicy
from sekvens.domain.roles import Actor
from sekvens.domain.send_windows import SendWindowRequest
from sekvens.domain.sender_identity import IdentityChange
from sekvens.domain.working_hours import check_time_zone
from sekvens.storage import audit, organizations
from sekvens.storage.organizations import NAME_MAX
from sekvens.storage.tables import Organization

MAX_ACTIVE_LIMIT = 10_000
MAX_STEPS_LIMIT = 500


@dataclass(frozen=True)
class SettingsChange:
    """The settings to change; None leaves one as it is."""

    name: str | None = None
    sequences_enabled: bool | None = None
    max_active_sequences: int | None = None
    max_steps: int | None = None
    skip_non_working_time: bool | None = None
    holidays: Seq[date] | None = None
    default_time_zone: str | None = None
    call_outcomes: Seq[str] | None = None
    monthly_connection_quota: int | None = None  # 0 or less: no quota
    send_window: SendWindowRequest | None = None
    away_policy: AwayPolicy | None = None
    identity: IdentityChange = field(default_factory=IdentityChange)  # default sender identity


def _check(c: SettingsChange) -> None:
    p = ProblemList()
    if c.name is not None and not 1 <= len(c.name.strip()) <= NAME_MAX:
        p.add(ErrorCode.INVALID_VALUE, f"Name: 1 to {NAME_MAX} characters.", ["name"])
    if c.max_active_sequences is not None and not 1 <= c.max_active_sequences <= MAX_ACTIVE_LIMIT:
        p.add(ErrorCode.INVALID_VALUE, f"Between 1 and {MAX_ACTIVE_LIMIT}.", ["maxActiveSequences"])
    if c.max_steps is not None and not 2 <= c.max_steps <= MAX_STEPS_LIMIT:
        p.add(ErrorCode.INVALID_VALUE, f"Between 2 and {MAX_STEPS_LIMIT}.", ["maxSteps"])
    if c.default_time_zone is not None and (
        problem := check_time_zone(c.default_time_zone, ("defaultTimeZone",))
    ):
        p.problems.append(problem)
    if c.call_outcomes is not None:
        outcomes = [o.strip() for o in c.call_outcomes]
        if not outcomes or any(not o for o in outcomes) or len(set(outcomes)) != len(outcomes):
            p.add(
                ErrorCode.INVALID_VALUE,
                "Call outcomes: at least one, distinct, non-empty.",
                ["callOutcomes"],
            )
    if c.send_window is not None:
        try:
            c.send_window.stored()
        except DomainError as e:
            p.problems.extend(e.problems)
    p.problems.extend(c.identity.problems())
    p.raise_if_any()


async def update_settings(
    session: AsyncSession, actor: Actor, change: SettingsChange
) -> Organization:
    """Change the actor's organization's settings; the audit entry lists what was given."""
    _check(change)
    org = await organizations.get(session, actor.organization_id)
    if org is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such organization.")
    changed: dict[str, Any] = {}
    for name in (
        "sequences_enabled",
        "max_active_sequences",
        "max_steps",
        "skip_non_working_time",
        "default_time_zone",
        "away_policy",
    ):
        value = getattr(change, name)
        if value is not None:
            setattr(org, name, value)
            changed[name] = value
    if change.name is not None:
        other = await organizations.get_by_name(session, change.name)
        if other is not None and other.id != org.id:
            raise DomainError.of(ErrorCode.DUPLICATE, "That name is taken.", ["name"])
        org.name = changed["name"] = change.name.strip()
    if change.call_outcomes is not None:
        org.call_outcomes = changed["call_outcomes"] = [o.strip() for o in change.call_outcomes]
    if change.holidays is not None:
        org.holidays = changed["holidays"] = sorted({date.isoformat(d) for d in change.holidays})
    if change.monthly_connection_quota is not None:
        quota = change.monthly_connection_quota
        org.monthly_connection_quota = changed["monthly_connection_quota"] = (
            quota if quota > 0 else None
        )
    if change.send_window is not None:
        org.send_window = changed["send_window"] = change.send_window.stored()
    for column, value in change.identity.stored().items():
        setattr(org, column, value)
        changed[column] = value
    audit.record(
        session,
        org.id,
        actor.user_id,
        "organization.settings_updated",
        "organization",
        org.id,
        changed,
    )
    return org
