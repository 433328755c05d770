"""The `UserError` payload convention and the GraphQL face of `ErrorCode`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from graphql import GraphQLError

from sekvens.domain.errors import DomainError, Problem
from sekvens.schema.enums import ErrorCode


@strawberry.type(description="An expected failure: a stable code, a message, and where it applies.")
class UserError:
    code: ErrorCode
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
            step_id=strawberry.ID(p.step_key) if p.step_key is not None else None,
            index=index,
        )


def user_errors(error: DomainError, index: int | None = None) -> list[UserError]:
    return [UserError.from_problem(p, index) for p in error.problems]


class ApiError(GraphQLError):
    """A query-side refusal (no payload to carry it): a GraphQL error with a stable code."""

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] = ()):
        extensions: dict[str, Any] = {"code": code.value}
        if field:
            extensions["field"] = list(field)
        super().__init__(message, extensions=extensions)

    @classmethod
    def from_domain(cls, error: DomainError) -> ApiError:
        first = error.problems[0]
        return cls(first.code, first.message, first.field)
