"""Organizations (tenants), their settings, and the record types each starts with."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.record_type_defaults import DEFAULT_CALL_OUTCOMES, DEFAULT_RECORD_TYPES
from sekvens.storage.record_types import add_record_type
from sekvens.storage.tables import Organization

NAME_MAX = 160


async def create_organization(session: AsyncSession, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise DomainError.of(ErrorCode.REQUIRED, "An organization needs a name.", ["name"])
    if len(name) > NAME_MAX:
        raise DomainError.of(ErrorCode.TOO_LONG, f"Name is over {NAME_MAX} characters.", ["name"])
    if await get_by_name(session, name):
        raise DomainError.of(ErrorCode.DUPLICATE, f"Organization '{name}' exists.", ["name"])
    org = Organization(name=name, call_outcomes=list(DEFAULT_CALL_OUTCOMES), holidays=[])
    session.add(org)
    await session.flush()
    for info in DEFAULT_RECORD_TYPES:
        await add_record_type(session, org.id, info, is_builtin=True)
    return org


async def get_by_name(session: AsyncSession, name: str) -> Organization | None:
    return await session.scalar(
        select(Organization).where(func.lower(Organization.name) == name.strip().lower())
    )


async def get(session: AsyncSession, organization_id: int) -> Organization | None:
    return await session.get(Organization, organization_id)


async def existing(session: AsyncSession, organization_id: int) -> Organization:
    """The organization of a signed-in viewer or a stored row, which must exist;
    LookupError (an internal error, not the caller's) when it does not."""
    org = await session.get(Organization, organization_id)
    if org is None:
        raise LookupError(f"No organization {organization_id}.")
    return org
