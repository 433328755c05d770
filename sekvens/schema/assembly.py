"""Build the Strawberry schema: roots, extensions, production hardening."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from sekvens.config import Settings
from sekvens.resolvers.mutation import Mutation
from sekvens.resolvers.root import Query
from sekvens.resolvers.subscriptions import Subscription
from sekvens.schema.extensions import HideSuggestions, MaskUnexpectedErrors, OperationMetrics
from sekvens.schema.limits import limit_extensions


def build_schema(production: bool = False, settings: Settings | None = None) -> strawberry.Schema:
    """The schema; `settings` gives the abuse limits (their defaults without it)."""
    settings = settings or Settings()
    extensions: list[Any] = [
        OperationMetrics,
        MaskUnexpectedErrors,
        lambda: ParserCache(maxsize=1000),
        lambda: ValidationCache(maxsize=1000),
        *limit_extensions(settings),
    ]
    if production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
        extensions.append(HideSuggestions)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=production,
            # Batching stays off (a list body is refused) unless more than one is allowed.
            batching_config=(
                {"max_operations": settings.max_operations} if settings.max_operations > 1 else None
            ),
        ),
    )
