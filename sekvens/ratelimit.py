"""Request guards in front of GraphQL: the JSON content type, and token-bucket rate limits.

Two limits, both kept in process (with several API processes each allows the configured rate,
docs/security.md):

* requests: a bucket per verified token, else per client address. A token draws from its own
  bucket only once it has authenticated; until then (and for a wrong token, always) requests
  draw from the client address's bucket, so random tokens are no way around the limit.
* failed authentications: a stricter bucket per client address. While it is empty, the
  address's requests with a token not yet verified are refused before the token is looked up.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from sekvens.config import Settings
from sekvens.domain.errors import ErrorCode

#: Buckets a table keeps before it sweeps; a sweep evicts the least recently used buckets
#: that are not refusing (down to 90%), never one that is refusing.
MAX_BUCKETS = 100_000


class RateLimiter:
    """A token bucket per key: `rate` requests per second on average, bursts up to `burst`."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int | None = None,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self.max_buckets = MAX_BUCKETS if max_buckets is None else max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # least recent first

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __contains__(self, key: str) -> bool:
        return key in self._buckets

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - stamp) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until `key` has a token (0: it has one), without taking it."""
        tokens = self._tokens(key, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds until one is there."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return 0.0
        self._store(key, tokens, now)
        return (1 - tokens) / self.rate

    def add(self, key: str) -> None:
        """Give `key` a (full) bucket of its own if it has none."""
        if key not in self._buckets:
            self._store(key, float(self.burst), self.clock())

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self.max_buckets:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Evict the least recently used buckets that would allow a request, down to 90%.
        Refusing buckets stay, so new keys cannot set a limited client free."""
        target = self.max_buckets * 9 // 10
        for key in list(self._buckets):
            if len(self._buckets) <= target:
                return
            if self._tokens(key, now) >= 1:
                del self._buckets[key]


def client_key(connection: HTTPConnection) -> str:
    """The client address; an IPv6 address by its /64 (what one host is usually given)."""
    host = connection.client.host if connection.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "a:" + host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "a:" + str(address.ipv4_mapped)
        return "a:" + str(ipaddress.ip_network(f"{address}/64", strict=False))
    return "a:" + str(address)


def token_key(authorization: str) -> str:
    return "t:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Refusal:
    status: int
    code: ErrorCode
    message: str
    headers: dict[str, str]


def _too_many(wait: float, what: str) -> Refusal:
    seconds = max(1, math.ceil(wait))
    return Refusal(
        429, ErrorCode.RATE_LIMITED, f"{what}; retry in {seconds} s.", {"Retry-After": str(seconds)}
    )


class RateLimits:
    """The request and failed-authentication limits of one app (module docstring)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.requests = RateLimiter(
            settings.rate_limit_per_second, settings.rate_limit_burst, clock
        )
        self.failures = RateLimiter(
            settings.auth_failures_per_second, settings.auth_failures_burst, clock
        )

    def key(self, connection: HTTPConnection, authorization: str | None) -> str:
        """Whose bucket a request draws from: its token's once verified, else its address's."""
        if authorization and (key := token_key(authorization)) in self.requests:
            return key
        return client_key(connection)

    def take(self, key: str) -> Refusal | None:
        """Take a request's token from `key`'s bucket; a refusal when it is empty."""
        wait = self.requests.take(key) if self.requests.enabled else 0
        return _too_many(wait, "Too many requests") if wait > 0 else None

    def admit(self, connection: HTTPConnection, authorization: str | None) -> Refusal | None:
        """Take an HTTP request's token (from `key`'s bucket)."""
        return self.take(self.key(connection, authorization))

    def check_failures(
        self, connection: HTTPConnection, authorization: str | None
    ) -> Refusal | None:
        """A refusal for an unverified token from an address whose failed-auth bucket is empty."""
        if not authorization or not self.failures.enabled:
            return None
        if token_key(authorization) in self.requests:
            return None
        wait = self.failures.wait(client_key(connection))
        return _too_many(wait, "Too many failed authentications") if wait > 0 else None

    def failed(self, connection: HTTPConnection) -> None:
        """An authentication failed: it counts against the client address."""
        if self.failures.enabled:
            self.failures.take(client_key(connection))

    def verified(self, authorization: str) -> str:
        """A token authenticated: from now on it draws from a bucket of its own (its key)."""
        key = token_key(authorization)
        self.requests.add(key)
        return key


def check_content_type(connection: HTTPConnection) -> Refusal | None:
    """POST needs `Content-Type: application/json` (any case, any parameters): a browser sends
    a form or text/plain cross-site without asking (a "simple request"), never JSON, so this
    closes CSRF."""
    if connection.scope.get("method") != "POST":
        return None
    if media_type(connection.headers.get("content-type", "")) == "application/json":
        return None
    return Refusal(
        415,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        "Send the request as JSON with 'Content-Type: application/json'.",
        {},
    )


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, lowercased (media types ignore case)."""
    return content_type.split(";")[0].strip().lower()
