"""The suppression list: addresses that never get automated email."""

from __future__ import annotations

from datetime import datetime

import strawberry

from sekvens.schema.enums import SuppressionSource
from sekvens.schema.errors import UserError
from sekvens.storage.tables import SuppressedAddress as SuppressedRow


@strawberry.type(description="An address the organization never sends automated email to.")
class SuppressedAddress:
    address: str = strawberry.field(description="Lower-cased; matched case-insensitively.")
    source: SuppressionSource
    note: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: SuppressedRow) -> SuppressedAddress:
        return cls(
            address=row.address,
            source=SuppressionSource(row.source),
            note=row.note,
            created_at=row.created_at,
        )


@strawberry.input
class AddSuppressedAddressesInput:
    addresses: list[str] = strawberry.field(description="At most 1000 per call.")
    note: str = ""
    source: SuppressionSource = strawberry.field(
        default=SuppressionSource.MANUAL,
        description="MANUAL (typed in) or IMPORT (from another system's list).",
    )


@strawberry.type
class SuppressedAddressResult:
    index: int
    entry: SuppressedAddress | None
    added: bool = strawberry.field(description="False when it was on the list already.")
    errors: list[UserError]


@strawberry.type
class AddSuppressedAddressesPayload:
    errors: list[UserError]
    results: list[SuppressedAddressResult] = strawberry.field(default_factory=list)
    added_count: int = 0


@strawberry.input
class RemoveSuppressedAddressesInput:
    addresses: list[str] = strawberry.field(description="At most 1000 per call.")


@strawberry.type
class RemoveSuppressedAddressesPayload:
    errors: list[UserError]
    removed_count: int = 0
