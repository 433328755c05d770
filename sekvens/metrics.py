"""Prometheus metrics of one app: GraphQL requests and latency by operation, errors by code,
and requests refused before GraphQL ran."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_OPERATION_NAMES = 200


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sekvens_graphql_requests",
            "GraphQL operations executed.",
            ["operation", "type"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sekvens_graphql_latency_seconds",
            "GraphQL operation latency.",
            ["operation"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.errors = Counter(
            "sekvens_graphql_errors", "Errors returned, by code.", ["code"], registry=self.registry
        )
        self.refused = Counter(
            "sekvens_http_refused",
            "HTTP requests refused before GraphQL ran, by status and code.",
            ["status", "code"],
            registry=self.registry,
        )
        self._names: set[str] = set()

    def refuse(self, status: int, code: str) -> None:
        """Count a request refused before GraphQL ran (also among the errors by code)."""
        self.refused.labels(str(status), code).inc()
        self.errors.labels(code).inc()

    def operation_label(self, name: str | None, authenticated: bool) -> str:
        """Names chosen by authenticated callers, bounded; unauthenticated operations share
        one label, so they cannot take the slots of real operations."""
        if not authenticated:
            return "unauthenticated"
        if not name:
            return "anonymous"
        if not NAME_RE.match(name):
            return "invalid"
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                return "other"
            self._names.add(name)
        return name

    def render(self) -> bytes:
        return generate_latest(self.registry)
