"""A small HTTP/1.1 load generator: many keep-alive connections, a fixed duration.

Each connection sends the same request, waits for the whole response (Content-Length),
and sends the next one at once (closed loop). Written on `asyncio.Protocol` callbacks,
without an HTTP library, so one core drives several thousand requests per second and the
server, not the generator, is what gets measured (the suite checks that against a
trivial endpoint: `ceiling`).

    python -m bench.loadgen --port 8000 --path /graphql --body-file q.json \
        --header "Authorization: Bearer ..." --connections 32 --duration 10 --warmup 2

prints one JSON line: requests, seconds, rps, p50_ms, p90_ms, p99_ms, errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import percentile


def build_request(host: str, port: int, path: str, body: bytes | None, headers: list[str]) -> bytes:
    method = "POST" if body is not None else "GET"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += headers
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Stats:
    def __init__(self) -> None:
        self.done: list[tuple[float, float]] = []  # (finished at, latency)
        self.errors = 0
        self.running = True
        self.first_error: str | None = None


class Client(asyncio.Protocol):
    def __init__(self, request: bytes, stats: Stats, closed: asyncio.Future[None]):
        self.request = request
        self.stats = stats
        self.closed = closed
        self.buffer = bytearray()
        self.need = -1
        self.status = 0
        self.started = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        self.buffer.clear()
        self.need = -1
        self.started = time.perf_counter()
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").lower()
            self.status = int(head[9:12])
            length = None
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    raise RuntimeError("chunked responses are not supported")
            if length is None:
                raise RuntimeError("response without Content-Length")
            self.need = end + 4 + length
        if len(self.buffer) < self.need:
            return
        now = time.perf_counter()
        if self.status == 200:
            self.stats.done.append((now, now - self.started))
        else:
            self.stats.errors += 1
            if self.stats.first_error is None:
                self.stats.first_error = bytes(self.buffer[: self.need]).decode("utf-8", "replace")
        if self.stats.running:
            self.send()
        elif self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def run(
    host: str,
    port: int,
    request: bytes,
    connections: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stats = Stats()
    closed: list[asyncio.Future[None]] = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        closed.append(done)
        await loop.create_connection(lambda d=done: Client(request, stats, d), host, port)
    await asyncio.sleep(warmup)
    start = time.perf_counter()
    await asyncio.sleep(duration)
    end = time.perf_counter()
    stats.running = False
    await asyncio.wait(closed, timeout=30)
    latencies = [lat for at, lat in stats.done if start <= at <= end]
    seconds = end - start
    return {
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "errors": stats.errors,
        "first_error": stats.first_error,
        "connections": connections,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/graphql")
    parser.add_argument("--body-file", type=Path, default=None)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    body = args.body_file.read_bytes() if args.body_file else None
    request = build_request(args.host, args.port, args.path, body, args.header)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        runner = asyncio.run
    result = runner(
        run(args.host, args.port, request, args.connections, args.duration, args.warmup)
    )
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
