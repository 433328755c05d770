"""The organization and its settings."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from sekvens.schema.enums import AwayPolicy
from sekvens.schema.errors import UserError
from sekvens.schema.relay import Node, to_global_id
from sekvens.schema.send_windows import SendWindow, SendWindowInput
from sekvens.schema.sender_identity import SenderIdentity
from sekvens.storage.tables import Organization as OrganizationRow


@strawberry.type(description="A tenant: everything belongs to exactly one organization.")
class Organization(Node):
    name: str
    sequences_enabled: bool
    max_active_sequences: int
    max_steps: int
    skip_non_working_time: bool = strawberry.field(
        description="Default for new sequences: waits count only working hours."
    )
    holidays: list[date]
    default_time_zone: str
    call_outcomes: list[str]
    monthly_connection_quota: int | None = strawberry.field(
        description="Connections allowed per calendar month; null means unlimited."
    )
    send_window: SendWindow | None = strawberry.field(
        description="When automated emails go out, for sequences without a window of their"
        " own; null (the default): at any time."
    )
    default_sender_identity: SenderIdentity = strawberry.field(
        description="The sender identity of automated emails where the assignee's own has no"
        " value; its address is the From of emails without an assignee (else the"
        " deployment's SEKVENS_MAIL_FROM)."
    )
    away_policy: AwayPolicy = strawberry.field(
        description="What an away seller's due activities do: go to their delegate (DELEGATE,"
        " the default) or wait until they are back (HOLD)."
    )
    created_at: datetime

    @classmethod
    def from_row(cls, row: OrganizationRow) -> Organization:
        return cls(
            id=strawberry.ID(to_global_id("Organization", row.id)),
            name=row.name,
            sequences_enabled=row.sequences_enabled,
            max_active_sequences=row.max_active_sequences,
            max_steps=row.max_steps,
            skip_non_working_time=row.skip_non_working_time,
            holidays=[date.fromisoformat(d) for d in row.holidays],
            default_time_zone=row.default_time_zone,
            call_outcomes=list(row.call_outcomes),
            monthly_connection_quota=row.monthly_connection_quota,
            send_window=SendWindow.of(row.send_window),
            away_policy=AwayPolicy(row.away_policy),
            default_sender_identity=SenderIdentity(
                name=row.sender_name,
                address=row.sender_address,
                reply_to=row.reply_to,
                signature=row.signature,
            ),
            created_at=row.created_at,
        )


@strawberry.input
class UpdateOrganizationSettingsInput:
    name: str | None = None
    sequences_enabled: bool | None = None
    max_active_sequences: int | None = None
    max_steps: int | None = None
    skip_non_working_time: bool | None = None
    holidays: list[date] | None = None
    default_time_zone: str | None = None
    call_outcomes: list[str] | None = None
    monthly_connection_quota: int | None = strawberry.field(
        default=None, description="Set to 0 or a negative number to remove the quota."
    )
    send_window: SendWindowInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="Omit to keep the window; null: automated emails go out at any time.",
    )
    away_policy: AwayPolicy | None = None
    sender_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Default display name of automated emails; omit to keep, null or empty to"
        " clear.",
    )
    sender_address: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="From address of automated emails without an assignee; omit to keep, null"
        " or empty to clear (then SEKVENS_MAIL_FROM).",
    )
    reply_to: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Default Reply-To address; omit to keep, null or empty to clear.",
    )
    signature: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Default plain-text signature; omit to keep, null or empty to clear.",
    )


@strawberry.type
class UpdateOrganizationSettingsPayload:
    errors: list[UserError]
    organization: Organization | None = None
