"""The organization's suppression list: addresses that never get automated email."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.life_cycles import ConnectionReason, ConnectionStatus
from sekvens.domain.records import DO_NOT_EMAIL_FIELD
from sekvens.domain.suppression import (
    NOTE_MAX,
    EmailOptOut,
    SuppressionSource,
    check_address,
    normalize,
)
from sekvens.storage.connection_endings import end_connections
from sekvens.storage.db import rows_matched
from sekvens.storage.search import ESCAPE, contains
from sekvens.storage.tables import Connection, Record, SuppressedAddress


@dataclass
class AddResult:
    index: int
    address: str
    entry: SuppressedAddress | None = None
    #: False when the address was on the list already (not an error).
    added: bool = False
    problems: list[Problem] = field(default_factory=list)


async def suppressed_among(
    session: AsyncSession, organization_id: int, addresses: set[str]
) -> set[str]:
    """Which of `addresses` (normalized) are on the organization's suppression list."""
    if not addresses:
        return set()
    found = await session.scalars(
        select(SuppressedAddress.address).where(
            SuppressedAddress.organization_id == organization_id,
            SuppressedAddress.address.in_(addresses),
        )
    )
    return set(found)


async def is_suppressed(session: AsyncSession, organization_id: int, address: str) -> bool:
    found = await session.scalar(
        select(SuppressedAddress.id).where(
            SuppressedAddress.organization_id == organization_id,
            SuppressedAddress.address == normalize(address),
        )
    )
    return found is not None


async def add(
    session: AsyncSession,
    organization_id: int,
    addresses: Sequence[str],
    source: SuppressionSource,
    note: str,
    user_id: int | None,
    now: datetime,
) -> list[AddResult]:
    """Put addresses on the list (one already there is kept as it is), per item."""
    results = [AddResult(i, normalize(a)) for i, a in enumerate(addresses)]
    if len(note) > NOTE_MAX:
        for r in results:
            r.problems.append(
                Problem(ErrorCode.TOO_LONG, f"A note is at most {NOTE_MAX} characters.", ("note",))
            )
        return results
    for r, raw in zip(results, addresses, strict=True):
        problem = check_address(raw, ("addresses", str(r.index)))
        if problem:
            r.problems.append(problem)
    wanted = {r.address for r in results if not r.problems}
    known = {
        row.address: row
        for row in await session.scalars(
            select(SuppressedAddress).where(
                SuppressedAddress.organization_id == organization_id,
                SuppressedAddress.address.in_(wanted),
            )
        )
    }
    for r in results:
        if r.problems:
            continue
        if r.address not in known:
            known[r.address] = SuppressedAddress(
                organization_id=organization_id,
                address=r.address,
                source=source,
                note=note,
                created_by_id=user_id,
                created_at=now,
            )
            session.add(known[r.address])
            r.added = True
        r.entry = known[r.address]
    await session.flush()
    return results


async def suppress(
    session: AsyncSession,
    organization_id: int,
    address: str,
    source: SuppressionSource,
    note: str,
    now: datetime,
) -> None:
    """Put one address on the list on the organization's own behalf (an unsubscribe, a
    bounce); an address that is not one is ignored."""
    if check_address(address, ()) is None:
        await add(session, organization_id, [address], source, note[:NOTE_MAX], None, now)


async def remove(session: AsyncSession, organization_id: int, addresses: Sequence[str]) -> int:
    """Take addresses off the list; returns how many were on it."""
    return await rows_matched(
        session,
        delete(SuppressedAddress).where(
            SuppressedAddress.organization_id == organization_id,
            SuppressedAddress.address.in_({normalize(a) for a in addresses}),
        ),
    )


def listed(organization_id: int, search: str | None) -> Select[Any]:
    """The list, newest first, optionally only addresses containing `search`."""
    stmt = select(SuppressedAddress).where(SuppressedAddress.organization_id == organization_id)
    if search:
        stmt = stmt.where(SuppressedAddress.address.like(contains(search.strip()), escape=ESCAPE))
    return stmt.order_by(SuppressedAddress.created_at.desc(), SuppressedAddress.id.desc())


async def unsubscribe_record(
    session: AsyncSession, organization_id: int, record_id: int | None, address: str, now: datetime
) -> list[int]:
    """An unsubscribe: suppress the address and end the record's running connections
    (UNSUBSCRIBED); returns the ended connections' ids."""
    await suppress(
        session, organization_id, address, SuppressionSource.UNSUBSCRIBED, "Unsubscribe link", now
    )
    if record_id is None:
        return []
    return await end_connections(
        session,
        (Connection.record_id == record_id) & (Connection.organization_id == organization_id),
        ConnectionStatus.DISCONNECTED,
        ConnectionReason.UNSUBSCRIBED,
        now,
    )


async def opt_outs(
    session: AsyncSession, organization_id: int, records: Sequence[Record], email_field: str
) -> dict[int, EmailOptOut]:
    """Why each of `records` must not get email, by record id (records that may are left
    out): marked "do not email", or its address in `email_field` is suppressed."""
    out: dict[int, EmailOptOut] = {}
    addresses: dict[str, list[int]] = {}
    for r in records:
        if (r.fields or {}).get(DO_NOT_EMAIL_FIELD) is True:
            out[r.id] = EmailOptOut.DO_NOT_EMAIL
            continue
        value = (r.fields or {}).get(email_field)
        if isinstance(value, str) and value.strip():
            addresses.setdefault(normalize(value), []).append(r.id)
    if addresses:
        found = await session.scalars(
            select(SuppressedAddress.address).where(
                SuppressedAddress.organization_id == organization_id,
                SuppressedAddress.address.in_(list(addresses)),
            )
        )
        for address in found:
            for record_id in addresses[address]:
                out[record_id] = EmailOptOut.SUPPRESSED
    return out
