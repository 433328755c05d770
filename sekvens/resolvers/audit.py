"""The organization's audit log, for administrators: authoring and runtime changes alike."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.resolvers.query import context
from sekvens.schema.audit import NODE_TYPES, AuditLogEntry, AuditLogFilter
from sekvens.schema.errors import ApiError
from sekvens.schema.pagination import paginate
from sekvens.schema.relay import Connection, decode_id, from_global_id
from sekvens.storage import audit

ACTION_MAX = 64
ENTITY_TYPES = {node: entity for entity, node in NODE_TYPES.items()}


def _entity(filter: AuditLogFilter) -> tuple[str | None, int | None]:
    if filter.entity_id is None:
        return filter.entity_type, None
    node_type, _ = from_global_id(str(filter.entity_id))
    entity_type = ENTITY_TYPES.get(node_type)
    if entity_type is None or filter.entity_type not in (None, entity_type):
        raise DomainError.of(
            ErrorCode.NOT_FOUND, "No audited object has this id.", ["filter", "entityId"]
        )
    return entity_type, decode_id(filter.entity_id, node_type, ["filter", "entityId"])


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="Who changed what and when, through which token, newest first: sequences,"
        " connections (connected, paused, resumed, disconnected, events recorded), activities,"
        " users, tokens, teams. System administrators only."
    )
    async def audit_log(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AuditLogFilter | None = None,
    ) -> Connection[AuditLogEntry]:
        ctx = context(info)
        filter = filter or AuditLogFilter()
        try:
            ctx.require(ADMINISTRATORS)
            if filter.action is not None and len(filter.action) > ACTION_MAX:
                raise DomainError.of(
                    ErrorCode.TOO_LONG,
                    f"An action is at most {ACTION_MAX} characters.",
                    ["filter", "action"],
                )
            entity_type, entity_id = _entity(filter)
            actor = (
                decode_id(filter.actor_id, "User", ["filter", "actorId"])
                if filter.actor_id is not None
                else None
            )
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        stmt = audit.entries(
            ctx.viewer.organization_id, entity_type, entity_id, filter.action, actor, filter.since
        )
        return await paginate(ctx, stmt, AuditLogEntry.from_row, first, after)
