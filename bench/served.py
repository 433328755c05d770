"""Serve sekvens and the bare baseline from real uvicorn processes and load both in turns.

Both servers run at once on loopback, one uvicorn process each with the same options
(uvloop, httptools, no access log), on the same database. Before any load, one request to
each must return the same JSON. The load generator (`bench.loadgen`, its own process)
then alternates between them for a few rounds, so a noisy neighbour hurts both alike; the
figures are the medians of the rounds.
"""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    Options,
    Target,
    child_env,
    free_port,
    log,
    median,
    ratio_target,
    run_child,
    wait_for_port,
)

APPS = {"sekvens": "sekvens.app:create_app", "bare": "bench.bare:create_app"}


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(name: str, database_url: str, workers: int = 1, **extra_env: str) -> Server:
    """Serve app `name` on a free port; `workers` > 1 runs that many uvicorn processes."""
    port = free_port()
    env = child_env(
        SEKVENS_DATABASE_URL=database_url,
        SEKVENS_AUTO_MIGRATE="0",
        SEKVENS_ENV="production",
        SEKVENS_SECRET_KEY=secrets.token_urlsafe(48),
        **extra_env,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            APPS[name],
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        cwd=ROOT,
        env=env,
    )
    wait_for_port(port, proc)
    return Server(name, port, proc)


@dataclass
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


def graphql_request(query: str, variables: dict[str, Any], token: str) -> Request:
    body = json.dumps({"query": query, "variables": variables}).encode()
    return Request("/graphql", body, {"Authorization": f"Bearer {token}"})


def fetch(port: int, request: Request) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/json", **request.headers}
        conn.request("POST", request.path, body=request.body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def load(
    port: int,
    request: Request | None,
    connections: int,
    duration: float,
    warmup: float,
    path: str | None = None,
) -> dict[str, Any]:
    args = ["--port", str(port), "--connections", str(connections)]
    args += ["--duration", str(duration), "--warmup", str(warmup)]
    if request is not None:
        with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
            f.write(request.body)
        args += ["--path", request.path, "--body-file", f.name]
        for name, value in request.headers.items():
            args += ["--header", f"{name}: {value}"]
    else:
        args += ["--path", path or "/"]
    try:
        return run_child("bench.loadgen", *args)
    finally:
        if request is not None:
            Path(f.name).unlink(missing_ok=True)


@dataclass
class Comparison:
    rows: list[dict[str, Any]]
    target: Target
    ceiling_rps: float
    rounds: list[dict[str, Any]]
    ratio: float


def compare(
    opts: Options,
    database_url: str,
    label: str,
    sekvens_request: Request,
    bare_request: Request,
    target: float = 0.5,
    lean_request: Request | None = None,
) -> Comparison:
    """Serve both, check they answer alike, and load each in alternating rounds; with
    `lean_request`, the bare server's fewest-statement endpoint too (a row of its own)."""
    rounds_n = 1 if opts.smoke else 3
    duration = 1.0 if opts.smoke else 10.0
    warmup = 0.3 if opts.smoke else 2.0
    connections = 8 if opts.smoke else 32
    # The rate limit off: a token's bucket is not what is measured (peer_postgraphile too).
    servers = {
        name: start(name, database_url, SEKVENS_RATE_LIMIT_PER_SECOND="0")
        for name in ("sekvens", "bare")
    }
    try:
        requests = {"sekvens": sekvens_request, "bare": bare_request}
        if lean_request is not None:
            requests["lean"] = lean_request
        answers = {}
        for name, req in requests.items():
            status, body = fetch(servers["sekvens" if name == "sekvens" else "bare"].port, req)
            if status != 200:
                raise RuntimeError(f"{name} answered {status}: {body[:2000]!r}")
            answers[name] = json.loads(body)
        if "errors" in answers["sekvens"]:
            raise RuntimeError(f"sekvens answered with errors: {answers['sekvens']['errors']}")
        for name in requests:
            if answers[name] != answers["sekvens"]:
                raise RuntimeError(
                    f"{label}: the {name} endpoint's JSON differs from sekvens':\n"
                    f"{json.dumps(answers['sekvens'])[:1500]}\n{json.dumps(answers[name])[:1500]}"
                )
        response_bytes = len(json.dumps(answers["sekvens"]))
        log(f"{label}: same JSON from both ({response_bytes} bytes); loading")
        ceiling = load(servers["bare"].port, None, connections, duration, warmup, path="/ping")
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in requests}
        for r in range(rounds_n):
            order = list(requests) if r % 2 == 0 else list(reversed(requests))
            for name in order:
                port = servers["sekvens" if name == "sekvens" else "bare"].port
                res = load(port, requests[name], connections, duration, warmup)
                if res["errors"]:
                    raise RuntimeError(f"{name}: {res['errors']} errors: {res['first_error']}")
                log(
                    f"{label} round {r + 1} {name}: {res['rps']} req/s, "
                    f"p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms"
                )
                results[name].append(res)
    finally:
        for server in servers.values():
            server.stop()

    def summary(name: str) -> dict[str, Any]:
        runs = results[name]
        return {
            "rps": round(median([r["rps"] for r in runs]), 1),
            "p50_ms": round(median([r["p50_ms"] for r in runs]), 2),
            "p99_ms": round(median([r["p99_ms"] for r in runs]), 2),
            "requests": sum(r["requests"] for r in runs),
        }

    s, b = summary("sekvens"), summary("bare")
    ratio = s["rps"] / b["rps"] if b["rps"] else 0.0
    rows = [
        {
            "server": "sekvens (GraphQL)",
            "req/s": s["rps"],
            "p50 ms": s["p50_ms"],
            "p99 ms": s["p99_ms"],
            "requests": s["requests"],
            "ratio": round(ratio, 3),
        },
        {
            "server": "bare Starlette, same SQL",
            "req/s": b["rps"],
            "p50 ms": b["p50_ms"],
            "p99 ms": b["p99_ms"],
            "requests": b["requests"],
            "ratio": 1.0,
        },
    ]
    if lean_request is not None:
        lean = summary("lean")
        rows.append(
            {
                "server": "bare Starlette, fewest statements",
                "req/s": lean["rps"],
                "p50 ms": lean["p50_ms"],
                "p99 ms": lean["p99_ms"],
                "requests": lean["requests"],
                "ratio": round(lean["rps"] / b["rps"], 3) if b["rps"] else 0.0,
            }
        )
    return Comparison(
        rows=rows,
        target=ratio_target(f"{label}: req/s vs bare", ratio, target),
        ceiling_rps=ceiling["rps"],
        rounds=[{"server": n, **r} for n, runs in results.items() for r in runs],
        ratio=ratio,
    )


def load_settings(opts: Options) -> dict[str, Any]:
    return {
        "connections": 8 if opts.smoke else 32,
        "rounds": 1 if opts.smoke else 3,
        "seconds per round": 1.0 if opts.smoke else 10.0,
        "warm-up seconds": 0.3 if opts.smoke else 2.0,
    }
