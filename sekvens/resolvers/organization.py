"""The organization-settings mutation. The rules are `actions/organization.py`."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import organization
from sekvens.actions.organization import SettingsChange
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.organization import (
    Organization,
    UpdateOrganizationSettingsInput,
    UpdateOrganizationSettingsPayload,
)
from sekvens.schema.send_windows import window_request


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(description="Change the organization's settings. Administrators only.")
    async def update_organization_settings(
        self, info: Info, input: UpdateOrganizationSettingsInput
    ) -> UpdateOrganizationSettingsPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            given = {f.name: getattr(input, f.name) for f in fields(SettingsChange)}
            given["send_window"] = window_request(input.send_window)
            change = SettingsChange(**given)
            org = await organization.update_settings(ctx.session, viewer, change)
            return {"organization": Organization.from_row(org)}

        return await mutate(info, UpdateOrganizationSettingsPayload, run, ADMINISTRATORS)
