"""Build the Strawberry schema: roots, extensions, production hardening."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from sekvens.resolvers.mutation import Mutation
from sekvens.resolvers.root import Query
from sekvens.schema.extensions import HideSuggestions, MaskUnexpectedErrors, OperationMetrics


def build_schema(production: bool = False) -> strawberry.Schema:
    extensions: list[Any] = [
        OperationMetrics,
        MaskUnexpectedErrors,
        lambda: ParserCache(maxsize=1000),
        lambda: ValidationCache(maxsize=1000),
    ]
    if production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
        extensions.append(HideSuggestions)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production),
    )
