"""The persisted-query allow list (SEKVENS_PERSISTED_QUERIES): only its documents run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from sekvens.domain.errors import ErrorCode
from sekvens.schema.extensions.refusals import refuse

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
        elif sent is not None and sent in self.documents:
            ec.query = self.documents[sent]
        else:
            self.refusal = self._error("No persisted query has this hash.")
        if self.refusal is not None:
            ec.query = REFUSED_DOCUMENT
            ec._provided_operation_name = None  # its only operation
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
