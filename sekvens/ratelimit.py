"""Request guards in front of GraphQL: the JSON content type, and a token-bucket rate limit.

The rate limit is kept in process: with several API processes behind a proxy, each
allows the configured rate (docs/security.md).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from sekvens.domain.errors import ErrorCode

#: Buckets kept at most; full (idle) buckets are dropped first when there are more.
MAX_BUCKETS = 100_000


class RateLimiter:
    """A token bucket per key: `rate` requests per second on average, bursts up to `burst`."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until one is there."""
        now = self.clock()
        tokens, stamp = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return 0.0
        self._store(key, tokens, now)
        return (1 - tokens) / self.rate

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets = {
                k: (t, s)
                for k, (t, s) in self._buckets.items()
                if t + (now - s) * self.rate < self.burst
            }
            if len(self._buckets) > MAX_BUCKETS:  # a flood of new keys: start over
                self._buckets = {key: (tokens, now)}


def rate_key(connection: HTTPConnection) -> str:
    """Whose bucket a request draws from: its bearer token's, else its client address's."""
    authorization = connection.headers.get("authorization")
    if authorization:
        return "t:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]
    client = connection.client
    return "a:" + (client.host if client else "unknown")


@dataclass(frozen=True)
class Refusal:
    status: int
    code: ErrorCode
    message: str
    headers: dict[str, str]


def check_request(connection: HTTPConnection, limiter: RateLimiter) -> Refusal | None:
    """Why an HTTP request to /graphql is refused before it runs, if it is.

    POST needs `Content-Type: application/json`: a browser sends a form or text/plain
    cross-site without asking (a "simple request"), never JSON, so this closes CSRF.
    """
    if connection.scope.get("method") == "POST":
        media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return Refusal(
                415,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "Send the request as JSON with 'Content-Type: application/json'.",
                {},
            )
    if limiter.enabled:
        wait = limiter.take(rate_key(connection))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            return Refusal(
                429,
                ErrorCode.RATE_LIMITED,
                f"Too many requests; retry in {seconds} s.",
                {"Retry-After": str(seconds)},
            )
    return None
