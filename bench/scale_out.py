"""Scale-out: the home grid from one API process against two (uvicorn workers, each with
its own pool), on the same PostgreSQL data, in alternating rounds; with
SEKVENS_BENCH_PGBOUNCER_URL set (a PgBouncer in transaction-pooling mode in front of the
same server, e.g. `postgresql://postgres@127.0.0.1:6432/`), two processes through it as
well. Target: two processes serve at least 1.6x the requests of one.

The machine's cores are shared by the API processes, PostgreSQL and the load generator,
so the ratio says how much of a second core one more process turns into requests.

    python -m bench.scale_out --backend postgres [--smoke]
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy.engine import make_url

from bench import common, home_grid, queries, served

SCENARIO = "scale_out"
TITLE = "Scale-out: API processes"
PGBOUNCER_ENV = "SEKVENS_BENCH_PGBOUNCER_URL"


def _through(pooler: str, url: str) -> str:
    """`url`'s database through the pooler at `pooler` (its host, port and user)."""
    target = make_url(url)
    return make_url(pooler).set(database=target.database).render_as_string(hide_password=False)


def main() -> None:
    opts = common.options(__doc__.splitlines()[0])
    if opts.backend != "postgres":
        raise SystemExit("scale_out runs on PostgreSQL only")
    common.log(f"{SCENARIO}: setting up")
    url, org, sizes = asyncio.run(home_grid.setup(opts))
    settings = served.load_settings(opts)
    variables = {"first": 50}
    request = served.graphql_request(queries.GRID, variables, org.admin_token)
    variants: dict[str, tuple[str, int, dict[str, str]]] = {
        "1 process": (url, 1, {}),
        "2 processes": (url, 2, {}),
    }
    pooler = os.environ.get(PGBOUNCER_ENV)
    if pooler:
        variants["2 processes through PgBouncer"] = (
            _through(pooler, url),
            2,
            {"SEKVENS_DB_POOLER": "transaction", "SEKVENS_DIRECT_DATABASE_URL": url},
        )
    servers: dict[str, served.Server] = {}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    try:
        for name, (database_url, workers, env) in variants.items():
            servers[name] = served.start(
                "sekvens", database_url, workers=workers, SEKVENS_RATE_LIMIT_PER_SECOND="0", **env
            )
            status, body = served.fetch(servers[name].port, request)
            if status != 200 or b'"errors"' in body:
                raise RuntimeError(f"{name} answered {status}: {body[:2000]!r}")
        common.log(f"{SCENARIO}: {', '.join(variants)} answer; loading")
        for r in range(settings["rounds"]):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                res = served.load(
                    servers[name].port,
                    request,
                    settings["connections"],
                    settings["seconds per round"],
                    settings["warm-up seconds"],
                )
                if res["errors"]:
                    raise RuntimeError(f"{name}: {res['errors']} errors: {res['first_error']}")
                common.log(f"{SCENARIO} round {r + 1} {name}: {res['rps']} req/s")
                results[name].append(res)
    finally:
        for server in servers.values():
            server.stop()
        asyncio.run(common.drop_database(opts, url))
        common.cleanup(opts)

    one = common.median([r["rps"] for r in results["1 process"]])
    rows, targets = [], []
    for name, runs in results.items():
        rps = common.median([r["rps"] for r in runs])
        rows.append(
            {
                "API processes": name,
                "req/s": round(rps, 1),
                "p50 ms": round(common.median([r["p50_ms"] for r in runs]), 2),
                "p99 ms": round(common.median([r["p99_ms"] for r in runs]), 2),
                "requests": sum(r["requests"] for r in runs),
                "vs 1 process": round(rps / one, 3) if one else 0.0,
            }
        )
        if name == "2 processes":
            targets.append(
                common.ratio_target(f"home grid: {name} vs 1", rps / one if one else 0.0, 1.6)
            )
        elif name != "1 process":  # through PgBouncer: what the pooler costs, reported
            targets.append(
                common.Target(f"home grid: {name} vs 1", "reported", round(rps / one, 3), None, "x")
            )
    notes = [
        "Each process is a uvicorn worker with its own connection pool "
        "(SEKVENS_DB_POOL_SIZE each); the load generator, PostgreSQL and the API processes "
        f"share the machine's {os.cpu_count()} cores.",
        "Document: " + " ".join(queries.GRID.split()),
    ]
    if not pooler:
        notes.append(f"{PGBOUNCER_ENV} was not set: no run through PgBouncer.")
    common.write_result(
        opts,
        SCENARIO,
        TITLE,
        {**sizes, **settings},
        [{"title": "Home grid requests per second by API processes", "rows": rows}],
        targets,
        notes,
    )


if __name__ == "__main__":
    main()
