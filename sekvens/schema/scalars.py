"""Scalars that differ from Strawberry's: a `DateTime` must say its UTC offset."""

from __future__ import annotations

from datetime import UTC, datetime

import dateutil.parser
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from sekvens.domain.errors import ErrorCode


class InvalidInput(ValueError):
    """A scalar value the schema refuses; the request's error gets `code` (see extensions)."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def parse_datetime(value: object) -> datetime:
    """An ISO 8601 date-time with a UTC offset (`Z` or `+02:00`); naive ones are refused,
    since the server can't know which time zone the client meant."""
    if not isinstance(value, str):
        raise InvalidInput(ErrorCode.INVALID_VALUE, "A DateTime is an ISO 8601 string.")
    if len(value) > 64:
        raise InvalidInput(ErrorCode.INVALID_VALUE, "A DateTime is at most 64 characters.")
    try:
        parsed = dateutil.parser.isoparse(value)
    except (ValueError, OverflowError):
        raise InvalidInput(
            ErrorCode.INVALID_VALUE, f"'{value}' is not an ISO 8601 date-time."
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput(
            ErrorCode.INVALID_VALUE,
            f"'{value}' has no UTC offset: add one, as in 2030-01-31T09:00:00Z or "
            "2030-01-31T09:00:00+01:00.",
        )
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            ErrorCode.INVALID_VALUE, f"'{value}' is outside the years 1 to 9999 in UTC."
        ) from None
    return parsed


def original_invalid_input(error: GraphQLError) -> InvalidInput | None:
    """The `InvalidInput` behind a GraphQL error (graphql-core wraps it once or twice)."""
    cause: BaseException | None = error
    for _ in range(4):
        if isinstance(cause, InvalidInput):
            return cause
        cause = getattr(cause, "original_error", None)
        if cause is None:
            return None
    return None


DateTime = ScalarDefinition(
    name="DateTime",
    description="Date with time (isoformat)",
    specified_by_url=None,
    serialize=datetime.isoformat,
    parse_value=parse_datetime,
    parse_literal=None,
    origin=datetime,
)

#: For `strawberry.Schema(scalar_overrides=…)`: Python types to these scalars.
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: DateTime}
