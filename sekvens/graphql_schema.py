"""The GraphQL schema: the roots of `resolvers/` with the extensions of `schema/extensions/`
(listed here in the order they run), and production hardening."""

from __future__ import annotations

import logging
from collections.abc import Callable
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
from sekvens.schema import prefetch
from sekvens.schema.extensions.cost_limit import CostLimiter
from sekvens.schema.extensions.document_limits import DocumentLimits, bounded_overlap_rule
from sekvens.schema.extensions.hidden_suggestions import HideSuggestions
from sekvens.schema.extensions.masking import MaskUnexpectedErrors
from sekvens.schema.extensions.operation_metrics import OperationMetrics
from sekvens.schema.extensions.operation_timeout import OperationTimeout
from sekvens.schema.extensions.persisted_queries import PersistedQueries, load_persisted_queries
from sekvens.schema.extensions.refusals import is_expected
from sekvens.schema.extensions.subscriptions_over_websocket import SubscriptionsOverWebsocket
from sekvens.schema.extensions.text_inputs import NoNulInText
from sekvens.schema.extensions.token_scopes import TokenScopes
from sekvens.schema.scalars import SCALAR_OVERRIDES

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


def schema_extensions(settings: Settings, production: bool) -> list[Callable[[], Any]]:
    """The extensions (`schema/extensions/`), as factories (one instance per operation), in
    the order they run: metrics and masking around everything else, then the refusals.

    The abuse limits are settings (docs/security.md has them with defaults); the validation
    rule is built once, so the validation cache keeps hitting.
    """
    overlap_rule = bounded_overlap_rule(settings.max_field_comparisons)
    extensions: list[Callable[[], Any]] = [
        OperationMetrics,
        MaskUnexpectedErrors,
        SubscriptionsOverWebsocket,
        TokenScopes,
        NoNulInText,
        lambda: ParserCache(maxsize=1000),
        lambda: ValidationCache(maxsize=1000),
    ]
    if settings.persisted_queries:
        documents = load_persisted_queries(settings.persisted_queries)
        extensions.append(lambda: PersistedQueries(documents))
    extensions += [
        lambda: DocumentLimits(settings, overlap_rule),
        lambda: CostLimiter(settings.max_cost, settings.page_size_max),
        lambda: OperationTimeout(settings.operation_timeout_seconds),
    ]
    if production:
        extensions.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
        extensions.append(HideSuggestions)
    return extensions


def build_schema(production: bool = False, settings: Settings | None = None) -> strawberry.Schema:
    """The schema; `settings` gives the abuse limits (their defaults without it)."""
    settings = settings or Settings()
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=schema_extensions(settings, production),
        scalar_overrides=SCALAR_OVERRIDES,
        config=StrawberryConfig(
            disable_field_suggestions=production,
            # Batching stays off (a list body is refused) unless more than one is allowed.
            batching_config=(
                {"max_operations": settings.max_operations} if settings.max_operations > 1 else None
            ),
        ),
    )
    prefetch.install(schema)
    return schema
