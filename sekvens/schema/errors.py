"""The `UserError` payload convention and the GraphQL face of `ErrorCode`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from graphql import GraphQLError

from sekvens.domain.errors import DomainError, Problem
from sekvens.domain.errors import ErrorCode as DomainErrorCode

ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode", description="Stable error codes.")


@strawberry.type(description="An expected failure: a stable code, a message, and where it applies.")
class UserError:
    code: ErrorCode  # type: ignore[valid-type]
    message: str
    field: list[str] | None = strawberry.field(
        default=None, description="Path to the input value the error concerns."
    )
    step_id: strawberry.ID | None = strawberry.field(
        default=None, description="The sequence step the error concerns."
    )
    index: int | None = strawberry.field(
        default=None, description="In bulk mutations: the index of the item the error concerns."
    )

    @classmethod
    def from_problem(cls, p: Problem, index: int | None = None) -> UserError:
        return cls(
            code=p.code,
            message=p.message,
            field=list(p.field) or None,
            step_id=p.step_key,
            index=index,
        )


def user_errors(error: DomainError, index: int | None = None) -> list[UserError]:
    return [UserError.from_problem(p, index) for p in error.problems]


class ApiError(GraphQLError):
    """A query-side refusal (no payload to carry it): a GraphQL error with a stable code."""

    def __init__(self, code: DomainErrorCode, message: str, field: Sequence[str] = ()):
        extensions: dict[str, Any] = {"code": code.value}
        if field:
            extensions["field"] = list(field)
        super().__init__(message, extensions=extensions)

    @classmethod
    def from_domain(cls, error: DomainError) -> ApiError:
        first = error.problems[0]
        return cls(first.code, first.message, first.field)
