"""Abuse limits on GraphQL operations: the document's size (document_limits.py), cost, a
timeout, and the persisted-query allow list. Each is a setting (docs/security.md has them
with defaults)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from sekvens.config import Settings
from sekvens.domain.errors import ErrorCode
from sekvens.schema.cost import CostLimiter, refuse
from sekvens.schema.document_limits import DocumentLimits, bounded_overlap_rule

#: What runs in place of a refused document, so that nothing of it is parsed or validated.
REFUSED_DOCUMENT = "query PersistedQueryNotFound { __typename }"


def load_persisted_queries(path: str | Path) -> dict[str, str]:
    """The allow list: a JSON object {sha256 hex of the document: document}.

    Every key must be the SHA-256 of its document (a mistyped file fails at startup, not
    at the first request).
    """
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object {{sha256: document}}")
    documents: dict[str, str] = {}
    for key, document in raw.items():
        if not isinstance(document, str):
            raise ValueError(f"{path}: the document of {key!r} is not a string")
        digest = sha256(document)
        if key.lower() != digest:
            raise ValueError(f"{path}: {key!r} is not the SHA-256 of its document ({digest})")
        documents[digest] = document
    return documents


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class PersistedQueries(SchemaExtension):
    """Only documents of the allow list run.

    A client sends the document's hash in `extensions.persistedQuery.sha256Hash` (with or
    without the document), or the document itself, which must hash to an entry. Anything
    else is answered with PERSISTED_QUERY_NOT_FOUND, before it is parsed or validated.
    """

    def __init__(self, documents: Mapping[str, str]):
        self.documents = documents
        self.refusal: GraphQLError | None = None

    def on_operation(self) -> Iterator[None]:
        ec = self.execution_context
        persisted = (ec.operation_extensions or {}).get("persistedQuery")
        sent = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        sent = sent.lower() if isinstance(sent, str) else None
        if ec.query:
            digest = sha256(ec.query)
            if digest not in self.documents or (sent is not None and sent != digest):
                self.refusal = self._error("This document is not among the persisted queries.")
        elif sent in self.documents:
            ec.query = self.documents[sent]
        else:
            self.refusal = self._error("No persisted query has this hash.")
        if self.refusal is not None:
            ec.query = REFUSED_DOCUMENT
            ec._provided_operation_name = None  # type: ignore[attr-defined]  # its only operation
        yield

    def on_execute(self) -> Iterator[None]:
        if self.refusal is not None:
            refuse(self, self.refusal)
        yield

    @staticmethod
    def _error(message: str) -> GraphQLError:
        return GraphQLError(
            message + " This server runs persisted queries only (SEKVENS_PERSISTED_QUERIES).",
            extensions={"code": ErrorCode.PERSISTED_QUERY_NOT_FOUND.value},
        )


class OperationTimeout(SchemaExtension):
    """A query or mutation that runs longer than `seconds` is cancelled: TIMEOUT.

    A cancelled mutation rolls its transaction back (resolvers/mutation_base.py), so it
    leaves nothing behind. Subscriptions are long-lived by nature and are not timed.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds

    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        if self.seconds <= 0 or ec.operation_type == OperationType.SUBSCRIPTION:
            yield
            return
        try:
            async with asyncio.timeout(self.seconds):
                yield
        except TimeoutError:
            raise GraphQLError(
                f"The operation took longer than {self.seconds:g} s and was cancelled.",
                extensions={"code": ErrorCode.TIMEOUT.value},
            ) from None


def limit_extensions(settings: Settings) -> list[Callable[[], Any]]:
    """The limiting extensions for `settings`, as factories (one instance per operation).

    The validation rule is built once, so the validation cache keeps hitting.
    """
    overlap_rule = bounded_overlap_rule(settings.max_field_comparisons)
    extensions: list[Callable[[], Any]] = []
    if settings.persisted_queries:
        documents = load_persisted_queries(settings.persisted_queries)
        extensions.append(lambda: PersistedQueries(documents))
    extensions += [
        lambda: DocumentLimits(settings, overlap_rule),
        lambda: CostLimiter(settings.max_cost, settings.page_size_max),
        lambda: OperationTimeout(settings.operation_timeout_seconds),
    ]
    return extensions
