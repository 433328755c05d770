"""The organization-settings mutation."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain.errors import DomainError, ErrorCode, ProblemList
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.domain.working_hours import check_time_zone
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.organization import (
    Organization,
    UpdateOrganizationSettingsInput,
    UpdateOrganizationSettingsPayload,
)
from sekvens.storage import audit, organizations
from sekvens.storage.organizations import NAME_MAX

MAX_ACTIVE_LIMIT = 10_000
MAX_STEPS_LIMIT = 500


def _check(i: UpdateOrganizationSettingsInput) -> None:
    p = ProblemList()
    if i.name is not None and not 1 <= len(i.name.strip()) <= NAME_MAX:
        p.add(ErrorCode.INVALID_VALUE, f"Name: 1 to {NAME_MAX} characters.", ["name"])
    if i.max_active_sequences is not None and not 1 <= i.max_active_sequences <= MAX_ACTIVE_LIMIT:
        p.add(ErrorCode.INVALID_VALUE, f"Between 1 and {MAX_ACTIVE_LIMIT}.", ["maxActiveSequences"])
    if i.max_steps is not None and not 2 <= i.max_steps <= MAX_STEPS_LIMIT:
        p.add(ErrorCode.INVALID_VALUE, f"Between 2 and {MAX_STEPS_LIMIT}.", ["maxSteps"])
    if i.default_time_zone is not None and (
        problem := check_time_zone(i.default_time_zone, ("defaultTimeZone",))
    ):
        p.problems.append(problem)
    if i.call_outcomes is not None:
        outcomes = [o.strip() for o in i.call_outcomes]
        if not outcomes or any(not o for o in outcomes) or len(set(outcomes)) != len(outcomes):
            p.add(
                ErrorCode.INVALID_VALUE,
                "Call outcomes: at least one, distinct, non-empty.",
                ["callOutcomes"],
            )
    p.raise_if_any()


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(description="Change the organization's settings. Administrators only.")
    async def update_organization_settings(
        self, info: Info, input: UpdateOrganizationSettingsInput
    ) -> UpdateOrganizationSettingsPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            _check(input)
            org = await organizations.get(ctx.session, viewer.organization_id)
            assert org is not None
            changed: dict[str, Any] = {}
            for name in (
                "sequences_enabled",
                "max_active_sequences",
                "max_steps",
                "skip_non_working_time",
                "default_time_zone",
            ):
                value = getattr(input, name)
                if value is not None:
                    setattr(org, name, value)
                    changed[name] = value
            if input.name is not None:
                other = await organizations.get_by_name(ctx.session, input.name)
                if other is not None and other.id != org.id:
                    raise DomainError.of(ErrorCode.DUPLICATE, "That name is taken.", ["name"])
                org.name = changed["name"] = input.name.strip()
            if input.call_outcomes is not None:
                org.call_outcomes = changed["call_outcomes"] = [
                    o.strip() for o in input.call_outcomes
                ]
            if input.holidays is not None:
                org.holidays = changed["holidays"] = sorted(
                    {date.isoformat(d) for d in input.holidays}
                )
            if input.monthly_connection_quota is not None:
                quota = input.monthly_connection_quota
                org.monthly_connection_quota = changed["monthly_connection_quota"] = (
                    quota if quota > 0 else None
                )
            audit.record(
                ctx.session,
                org.id,
                viewer.user_id,
                "organization.settings_updated",
                "organization",
                org.id,
                changed,
            )
            return {"organization": Organization.from_row(org)}

        return await mutate(info, UpdateOrganizationSettingsPayload, run, ADMINISTRATORS)
