"""The audit log as the API shows it: who did what, when, to which object, through which token."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from sekvens.schema.relay import to_global_id
from sekvens.schema.users import ApiToken, User
from sekvens.storage.tables import AuditEntry as AuditRow

#: The Node type of each audited entity type, for `entityId`.
NODE_TYPES = {
    "sequence": "Sequence",
    "connection": "SequenceTarget",
    "activity": "Activity",
    "api_token": "ApiToken",
    "user": "User",
    "team": "Team",
    "record_type": "RecordType",
    "tag": "Tag",
    "record": "Record",
    "organization": "Organization",
}


@strawberry.type(description="One change: who made it, when, to what, and through which token.")
class AuditLogEntry:
    action: str
    at: datetime
    version: int | None
    detail: JSON
    entity_type: str = strawberry.field(description="sequence, connection, activity, …")
    entity_id: strawberry.ID | None = strawberry.field(
        description="The global id of what changed (it may no longer exist)."
    )
    actor_pk: strawberry.Private[int | None]
    token_pk: strawberry.Private[int | None]

    @strawberry.field(description="Who did it; null for the engine or the CLI.")
    async def actor(self, info: Info) -> User | None:
        if self.actor_pk is None:
            return None
        row = await info.context.loaders.user.load(self.actor_pk)
        return User.from_row(row) if row else None

    @strawberry.field(description="The API token it came through; null without one.")
    async def token(self, info: Info) -> ApiToken | None:
        if self.token_pk is None:
            return None
        row = await info.context.loaders.api_token.load(self.token_pk)
        return ApiToken.from_row(row) if row else None

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditLogEntry:
        node_type = NODE_TYPES.get(row.entity_type)
        return cls(
            action=row.action,
            at=row.created_at,
            version=row.version,
            detail=JSON(row.detail),
            entity_type=row.entity_type,
            entity_id=(
                strawberry.ID(to_global_id(node_type, row.entity_id))
                if node_type and row.entity_id is not None
                else None
            ),
            actor_pk=row.actor_user_id,
            token_pk=row.token_id,
        )


@strawberry.input(description="Narrow the audit log; every given part must match.")
class AuditLogFilter:
    entity_type: str | None = None
    entity_id: strawberry.ID | None = strawberry.field(
        default=None, description="A global id (then entityType is implied)."
    )
    action: str | None = strawberry.field(
        default=None, description="An action, or a prefix ending in '.' such as 'connection.'."
    )
    actor_id: strawberry.ID | None = None
    since: datetime | None = None
