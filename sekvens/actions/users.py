"""Users: add them, change their profile, and set their roles.

Adding users and setting roles is for administrators (the caller checks the role); a user
changes their own profile, an administrator anyone's.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence as Seq
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import ADMINISTRATORS, Actor, Role
from sekvens.domain.sender_identity import IdentityChange
from sekvens.storage import audit, organizations
from sekvens.storage import tokens as token_store
from sekvens.storage import users as user_store
from sekvens.storage.tables import User


async def get_user(
    session: AsyncSession, actor: Actor, user_id: int, field: str = "userId"
) -> User:
    user = await session.get(User, user_id)
    if user is None or user.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such user in this organization.", [field])
    return user


async def create_user(
    session: AsyncSession,
    actor: Actor | None,
    organization_id: int,
    email: str,
    name: str,
    roles: Iterable[str],
    time_zone: str | None = None,
    working_hours: Seq[dict[str, Any]] | None = None,
) -> User:
    """A new user of the organization, added by `actor` (None: the operator at the
    command line, whom the audit entry names no user for)."""
    org = await organizations.get(session, organization_id)
    if org is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such organization.")
    roles = list(roles)
    user = await user_store.create_user(session, org, email, name, roles, time_zone, working_hours)
    audit.record(
        session,
        org.id,
        actor.user_id if actor is not None else None,
        "user.created",
        "user",
        user.id,
        {"email": user.email, "roles": sorted(roles)},
    )
    return user


async def update_user(
    session: AsyncSession,
    actor: Actor,
    user_id: int,
    name: str | None,
    time_zone: str | None,
    working_hours: Seq[dict[str, Any]] | None,
    is_active: bool | None,
) -> User:
    """Change a user's profile (themself, or anyone as administrator) or, as administrator,
    (de)activate them; nobody deactivates themself."""
    user = await get_user(session, actor, user_id)
    is_admin = actor.has_any(ADMINISTRATORS)
    if user.id != actor.user_id and not is_admin:
        raise DomainError.of(ErrorCode.FORBIDDEN, "This needs the role SYSTEM_ADMINISTRATOR.")
    if is_active is not None and not is_admin:
        raise DomainError.of(
            ErrorCode.FORBIDDEN, "Only a SYSTEM_ADMINISTRATOR (de)activates users.", ["isActive"]
        )
    if is_active is False and user.id == actor.user_id:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE, "You can't deactivate yourself.", ["isActive"]
        )
    await user_store.update_user(session, user, name, time_zone, working_hours, is_active)
    # cached verifications of their tokens drop: a deactivated user's, and the profile they hold
    await token_store.changed(session, user_ids=[user.id])
    audit.record(session, actor.organization_id, actor.user_id, "user.updated", "user", user.id)
    return user


async def set_sender_identity(
    session: AsyncSession, actor: Actor, user_id: int, change: IdentityChange
) -> User:
    """Set a user's sender identity (themself, or anyone as administrator): display name,
    Reply-To and signature; their address is always their email."""
    user = await get_user(session, actor, user_id)
    if user.id != actor.user_id and not actor.has_any(ADMINISTRATORS):
        raise DomainError.of(ErrorCode.FORBIDDEN, "This needs the role SYSTEM_ADMINISTRATOR.")
    if problems := change.problems():
        raise DomainError(problems)
    stored = change.stored()
    for column, value in stored.items():
        setattr(user, column, value)
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "user.sender_identity_set",
        "user",
        user.id,
        {column: value is not None for column, value in stored.items()},
    )
    return user


async def set_user_roles(
    session: AsyncSession, actor: Actor, user_id: int, roles: Iterable[str]
) -> User:
    """Replace a user's roles; the organization keeps at least one active administrator."""
    user = await get_user(session, actor, user_id)
    parsed = await user_store.set_roles(session, user, roles)
    await token_store.changed(session, user_ids=[user.id])  # cached roles drop
    if Role.SYSTEM_ADMINISTRATOR not in parsed and not await user_store.count_admins(
        session, actor.organization_id
    ):
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            "The organization must keep at least one active SYSTEM_ADMINISTRATOR.",
            ["roles"],
        )
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "user.roles_set",
        "user",
        user.id,
        {"roles": sorted(r.value for r in parsed)},
    )
    return user
