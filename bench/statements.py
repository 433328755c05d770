"""SQL statements per request for each GraphQL scenario, at 10 and at 1,000 rows.

Rows are what the page is made of: sequences for the home grid, steps for the designer,
open activities for up next. The app runs in-process (ASGI, no socket) and every statement
sent to the driver is counted, BEGIN included; the bare endpoints are counted the same
way. Target: sekvens' count is the same at both sizes."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from typing import Any

import httpx
from sqlalchemy import event

from bench import bare, common, data, queries
from bench.up_next import open_activities
from sekvens.app import create_app
from sekvens.plugins.registry import Registry
from sekvens.schema.relay import to_global_id
from sekvens.storage.db import Database

SCENARIO = "statements"
TITLE = "SQL statements per request"


@contextlib.contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def count(
    db: Database,
    client: httpx.AsyncClient,
    path: str,
    query: str,
    variables: dict[str, Any],
    token: str,
) -> tuple[int, int]:
    """(statements, nodes) of one request, after a first one warmed the caches."""
    body = {"query": query, "variables": variables}
    headers = {"Authorization": f"Bearer {token}"}
    await client.post(path, json=body, headers=headers)
    with counting(db) as seen:
        response = await client.post(path, json=body, headers=headers)
    payload = response.json()
    assert response.status_code == 200 and not payload.get("errors"), payload
    root = next(iter(payload["data"].values()))
    nodes = len(root.get("nodes") or root.get("steps") or [])
    return len(seen), nodes


async def measure(opts: common.Options, rows: int) -> dict[str, tuple[int, int, int | None, int]]:
    """{scenario: (sekvens statements, bare statements, fewest-statement bare statements or
    None, rows on the page)} at `rows`."""
    url = await common.create_database(opts, f"{SCENARIO}_{rows}")
    db = data.open_db(url)
    try:
        rng = random.Random(common.SEED)
        registry = Registry.from_entry_points()
        org = await data.organization(db, sellers=2)
        await data.tags(db, org, rng)
        # `rows` sequences in all: the designer's and five of up next's are made below.
        await data.sequences(db, registry, org, rng, rows - 6)
        seq_id = await data.sequence(
            db, registry, org, "Designer", data.designer_steps(rows), activate=False
        )
        await open_activities(db, registry, org, rng, rows)
        token = org.seller_tokens[org.seller_ids[0]]
        cases = {
            "home grid": ("/grid-lean", "/grid", queries.GRID, {"first": 50}, org.admin_token),
            "designer": (
                None,
                "/designer",
                queries.DESIGNER,
                {"id": to_global_id("Sequence", seq_id)},
                org.admin_token,
            ),
            "up next": ("/upnext-lean", "/upnext", queries.UP_NEXT, {"first": 50}, token),
        }
        out = {}
        apps = (create_app(db.settings, db), bare.create_app(db.settings, db))
        # The app's lifespan runs, as under uvicorn: on PostgreSQL the verified-token cache
        # serves only while the app listens for revocations.
        async with (
            apps[0].router.lifespan_context(apps[0]),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://s") as s,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://b") as b,
        ):
            for name, (lean_path, bare_path, query, variables, tok) in cases.items():
                n_sekvens, nodes = await count(db, s, "/graphql", query, variables, tok)
                n_bare, _ = await count(db, b, bare_path, query, variables, tok)
                n_lean = None
                if lean_path is not None:
                    n_lean, _ = await count(db, b, lean_path, query, variables, tok)
                out[name] = (n_sekvens, n_bare, n_lean, nodes)
        return out
    finally:
        await db.dispose()
        await common.drop_database(opts, url)


def main() -> None:
    opts = common.options(__doc__.splitlines()[0])
    small_n, large_n = (10, opts.size(1000, 40))
    common.log(f"{SCENARIO} on {opts.backend}: {small_n} and {large_n} rows")
    small = asyncio.run(measure(opts, small_n))
    large = asyncio.run(measure(opts, large_n))
    rows, targets = [], []
    for name in small:
        (s_small, b_small, l_small, nodes_small) = small[name]
        (s_large, b_large, l_large, nodes_large) = large[name]
        rows.append(
            {
                "request": name,
                f"sekvens @ {small_n} rows": s_small,
                f"sekvens @ {large_n} rows": s_large,
                f"bare @ {small_n} rows": b_small,
                f"bare @ {large_n} rows": b_large,
                f"fewest @ {small_n} rows": "-" if l_small is None else l_small,
                f"fewest @ {large_n} rows": "-" if l_large is None else l_large,
                "rows on the page": f"{nodes_small} / {nodes_large}",
            }
        )
        targets.append(
            common.Target(
                f"{name}: statements at {small_n} = at {large_n} rows",
                "equal",
                s_large - s_small,
                s_large == s_small,
                "difference",
            )
        )
    try:
        common.write_result(
            opts,
            SCENARIO,
            TITLE,
            {"small": small_n, "large": large_n},
            [{"title": "Statements sent to the database per request", "rows": rows}],
            targets,
            [
                "Rows: sequences in the organization (home grid, first: 50), steps in the "
                "sequence (designer, the organization's step limit raised to allow it), open "
                "activities of the seller (up next, first: 50).",
                "BEGIN counts as a statement on SQLite, where sekvens issues it itself.",
                "bare: the statements sekvens sends, one for one, through SQLAlchemy Core; "
                "fewest: the bare endpoint with the statements a hand-written server would "
                "send (no designer variant: its validation needs what sekvens reads).",
            ],
        )
    finally:
        common.cleanup(opts)


if __name__ == "__main__":
    main()
