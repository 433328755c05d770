"""Prometheus metrics of one app: GraphQL requests and latency by operation, errors by code."""

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
        self._names: set[str] = set()

    def operation_label(self, name: str | None) -> str:
        """Client-chosen names, bounded: anonymous and unknown ones share labels."""
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
