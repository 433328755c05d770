"""The GraphQL schema: the roots of `resolvers/` with the extensions and limits of `schema/`,
and production hardening."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from sekvens.config import Settings
from sekvens.resolvers.mutation import Mutation
from sekvens.resolvers.root import Query
from sekvens.resolvers.subscriptions import Subscription
from sekvens.schema.extensions import (
    HideSuggestions,
    MaskUnexpectedErrors,
    OperationMetrics,
    SubscriptionsOverWebsocket,
    is_expected,
)
from sekvens.schema.limits import limit_extensions
from sekvens.schema.scalars import SCALAR_OVERRIDES
from sekvens.schema.text_inputs import NoNulInText
from sekvens.schema.token_scopes import TokenScopes

log = logging.getLogger("sekvens.graphql")


class Schema(strawberry.Schema):
    """Strawberry's schema, logging a client's mistakes (bad documents, values, refusals)
    at INFO and without a traceback; unexpected errors keep Strawberry's ERROR log with the
    traceback (and `MaskUnexpectedErrors` logs them with the id the client sees)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: Any | None = None
    ) -> None:
        unexpected = []
        for error in errors:
            if is_expected(error):
                log.info("refused: %s", error.message)
            else:
                unexpected.append(error)
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(production: bool = False, settings: Settings | None = None) -> strawberry.Schema:
    """The schema; `settings` gives the abuse limits (their defaults without it)."""
    settings = settings or Settings()
    extensions: list[Any] = [
        OperationMetrics,
        MaskUnexpectedErrors,
        SubscriptionsOverWebsocket,
        TokenScopes,
        NoNulInText,
        lambda: ParserCache(maxsize=1000),
        lambda: ValidationCache(maxsize=1000),
        *limit_extensions(settings),
    ]
    if production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
        extensions.append(HideSuggestions)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        scalar_overrides=SCALAR_OVERRIDES,
        config=StrawberryConfig(
            disable_field_suggestions=production,
            # Batching stays off (a list body is refused) unless more than one is allowed.
            batching_config=(
                {"max_operations": settings.max_operations} if settings.max_operations > 1 else None
            ),
        ),
    )
