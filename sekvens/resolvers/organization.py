"""The organization-settings mutation. The rules are `actions/organization.py`."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import organization
from sekvens.actions.organization import SettingsChange
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.domain.sender_identity import IdentityChange
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.organization import (
    Organization,
    UpdateOrganizationSettingsInput,
    UpdateOrganizationSettingsPayload,
)
from sekvens.schema.send_windows import window_request
from sekvens.schema.sender_identity import identity_part


@strawberry.type
class OrganizationMutations:
    @strawberry.mutation(description="Change the organization's settings. Administrators only.")
    async def update_organization_settings(
        self, info: Info, input: UpdateOrganizationSettingsInput
    ) -> UpdateOrganizationSettingsPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            given: dict[str, Any] = {
                f.name: getattr(input, f.name, None) for f in fields(SettingsChange)
            }
            given["send_window"] = window_request(input.send_window)
            given["identity"] = IdentityChange(
                name=identity_part(input.sender_name),
                address=identity_part(input.sender_address),
                reply_to=identity_part(input.reply_to),
                signature=identity_part(input.signature),
            )
            change = SettingsChange(**given)
            org = await organization.update_settings(ctx.session, viewer, change)
            return {"organization": Organization.from_row(org)}

        return await mutate(info, UpdateOrganizationSettingsPayload, run, ADMINISTRATORS)
