"""Reads against PostGraphile 4: the home grid, the designer, up next, a trivial
authenticated read and an anonymous `{ __typename }`, each from sekvens and from PostGraphile
over the same PostgreSQL database, at 1 and at 16 concurrent clients, in alternating rounds.
Target: sekvens at least 1.0x PostGraphile's req/s on the home grid, the designer and up
next, and a home grid
whose cost per request does not grow with the organization (10x the sequences: p50 within
1.2x).

PostGraphile (a Node.js server that compiles a GraphQL query into one SQL statement) is
installed with npm into a cache folder (`bench/postgraphile.py`); without Node.js, or if
the install fails, the scenario is skipped and says why. PostgreSQL only.

    python -m bench.peer_postgraphile --backend postgres [--smoke] [--grid-sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bench import common, data, postgraphile, queries, served
from bench.up_next import open_activities
from sekvens.domain.global_ids import to_global_id
from sekvens.plugins.registry import Registry

SCENARIO = "peer_postgraphile"
TITLE = "Reads against PostGraphile"
CLIENTS = (1, 16)

#: sekvens' side of each pair (the grid without `tags.path`, which PostGraphile lacks).
SEKVENS_GRID = queries.GRID.replace("tags { id name path }", "tags { id name }")
SEKVENS_VIEWER = "{ viewer { user { email } } }"
#: The designer without `validation`, which has no equivalent in PostGraphile.
SEKVENS_DESIGNER = """query Designer($id: ID!) {
  sequence(id: $id) {
    id name status
    steps {
      id key type category name description config branch depth
      parent { id } next { id } yes { id } no { id }
    }
  }
}"""
TYPENAME = "{ __typename }"


# --- Data -------------------------------------------------------------------------------


class Data:
    """One database: an organization for up next (sellers with open activities, made the
    product's way), and one for the home grid, grown in place to each size."""

    def __init__(self, url: str, opts: common.Options):
        self.url = url
        self.opts = opts
        self.rng = random.Random(common.SEED)
        self.registry = Registry.from_entry_points()
        self.sequences = 0
        self.grid: data.BenchOrg
        self.sellers: data.BenchOrg
        self.records: list[int] = []
        self.designer_id = 0
        self.designer_steps = 0

    async def setup(self, sizes: dict[str, int], first_grid: int) -> None:
        db = data.open_db(self.url)
        try:
            # Up next first: the engine run below must find only these connections due.
            self.sellers = await data.organization(db, sellers=sizes["sellers"], name="Upnext")
            await open_activities(
                db, self.registry, self.sellers, self.rng, sizes["open activities per seller"]
            )
            self.grid = await data.organization(db, name="Bench")
            await data.tags(db, self.grid, self.rng)
            await data.records(db, self.grid, self.rng, sizes["records"])
            self.records = await data.record_ids(db, self.grid)
        finally:
            await db.dispose()
        await self.grow(first_grid, sizes["connections per active sequence"])
        db = data.open_db(self.url)
        try:
            # After the grid's first sequences, so that the grid's first page leaves it out.
            self.designer_steps = sizes["designer steps"]
            self.designer_id = await data.sequence(
                db,
                self.registry,
                self.grid,
                "Designer",
                data.designer_steps(sizes["designer steps"]),
                activate=False,
            )
        finally:
            await db.dispose()

    async def grow(self, total: int, per: int) -> None:
        """Add sequences to the grid's organization until it has `total`; half are active,
        each active one with `per` connections."""
        from sqlalchemy import select

        from sekvens.storage.tables import Sequence

        started = time.monotonic()
        db = data.open_db(self.url)
        try:
            ids = await data.sequences(
                db,
                self.registry,
                self.grid,
                self.rng,
                total - self.sequences,
                name_prefix=f"g{self.sequences}-" if self.sequences else "",
            )
            async with db.session() as session:
                active = list(
                    await session.scalars(
                        select(Sequence.id).where(Sequence.id.in_(ids), Sequence.status == "ACTIVE")
                    )
                )
            for seq_id in active:
                picked = self.rng.sample(self.records, k=min(per, len(self.records)))
                await data.connect_directly(db, self.grid, seq_id, picked)
        finally:
            await db.dispose()
        common.log(
            f"{SCENARIO}: {total - self.sequences} sequences added in "
            f"{time.monotonic() - started:.0f} s"
        )
        self.sequences = total
        await common.vacuum(self.url)


# --- Requests and answers -----------------------------------------------------------------


def _request(query: str, variables: dict[str, Any], token: str | None) -> served.Request:
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return served.Request("/graphql", body, headers)


def _key(value: Any) -> int | str:
    """A sekvens global id or a PostGraphile BigInt as the row's integer key."""
    text = str(value)
    if text.isdigit():
        return int(text)
    from sekvens.domain.global_ids import from_global_id

    with contextlib.suppress(Exception):
        _, pk = from_global_id(text)
        if pk.isdigit():
            return int(pk)
    return text


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _person(value: dict[str, Any] | None) -> tuple[Any, ...] | None:
    return (_key(value["id"]), value["name"]) if value else None


def grid_rows(answer: dict[str, Any], peer: bool) -> list[tuple[Any, ...]]:
    rows = []
    for n in answer["data"]["sequences"]["nodes"]:
        if peer:
            versions = n["latestVersion"]["nodes"]
            steps = versions[0]["sequenceStepsByVersionId"]["totalCount"] if versions else 0
            active = n["activeConnections"]["totalCount"]
            tags = [t["tag"] for t in n["sequenceTags"]["nodes"]]
        else:
            steps, active, tags = n["stepCount"], n["activeConnections"], n["tags"]
        rows.append(
            (
                _key(n["id"]),
                n["key"],
                n["name"],
                n["description"],
                n["status"],
                n["isPersonal"],
                _time(n["createdAt"]),
                _time(n["modifiedAt"]),
                steps,
                active,
                (n["recordType"] or {}).get("name"),
                _person(n["ownerUser"]),
                sorted((_key(t["id"]), t["name"]) for t in tags),
            )
        )
    return rows


def up_next_rows(answer: dict[str, Any], peer: bool) -> list[tuple[Any, ...]]:
    return [
        (
            _key(n["id"]),
            n["subject"],
            n["kind"],
            n["stepType"],
            n["status"],
            _time(n["dueAt"]),
            _person(n["record"]),
            _person(n["sequence"]),
        )
        for n in answer["data"]["activities" if peer else "upNext"]["nodes"]
    ]


def designer_rows(answer: dict[str, Any], peer: bool) -> list[tuple[Any, ...]]:
    """The sequence, then its steps by key: type, name, description, config, parent's key
    and branch (sekvens gives the parent as a step; PostGraphile the raw `parent_key`)."""
    seq = answer["data"]["sequence"]
    if peer:
        nodes = seq["latestVersion"]["nodes"][0]["steps"]["nodes"]
        steps = [{**n, "parent": n["parentKey"]} for n in nodes]
    else:
        keys = {n["id"]: n["key"] for n in seq["steps"]}
        steps = [{**n, "parent": keys.get((n["parent"] or {}).get("id"))} for n in seq["steps"]]
    head: list[tuple[Any, ...]] = [(_key(seq["id"]), seq["name"], seq["status"])]
    return head + sorted(
        (
            n["key"],
            n["type"],
            n["name"],
            n["description"],
            json.dumps(n["config"], sort_keys=True),
            n["parent"],
            n["branch"] if n["parent"] else None,
        )
        for n in steps
    )


def viewer_rows(answer: dict[str, Any], peer: bool) -> list[tuple[Any, ...]]:
    user = answer["data"]["user"] if peer else answer["data"]["viewer"]["user"]
    return [(user["email"],)]


def typename_rows(answer: dict[str, Any], peer: bool) -> list[tuple[Any, ...]]:
    return [(answer["data"]["__typename"],)]


class Case:
    def __init__(
        self,
        label: str,
        mine: served.Request,
        peer: served.Request,
        rows: Callable[[dict[str, Any], bool], list[tuple[Any, ...]]],
        mine_doc: str,
        peer_doc: str,
    ):
        self.label, self.mine, self.peer, self.rows = label, mine, peer, rows
        self.mine_doc, self.peer_doc = mine_doc, peer_doc


def cases(d: Data, pg: postgraphile.PostGraphile, grid_label: str) -> list[Case]:
    seller = d.sellers.seller_ids[0]
    grid = Case(
        grid_label,
        _request(SEKVENS_GRID, {"first": 50}, d.grid.admin_token),
        _request(
            postgraphile.GRID,
            {"first": 50, "org": str(d.grid.org_id)},
            pg.token(d.grid.admin_id, d.grid.org_id),
        ),
        grid_rows,
        SEKVENS_GRID,
        postgraphile.GRID,
    )
    return [
        grid,
        Case(
            f"designer ({d.designer_steps} steps)",
            _request(
                SEKVENS_DESIGNER,
                {"id": to_global_id("Sequence", d.designer_id)},
                d.grid.admin_token,
            ),
            _request(
                postgraphile.DESIGNER,
                {"id": str(d.designer_id)},
                pg.token(d.grid.admin_id, d.grid.org_id),
            ),
            designer_rows,
            SEKVENS_DESIGNER,
            postgraphile.DESIGNER,
        ),
        Case(
            "up next",
            _request(queries.UP_NEXT, {"first": 50}, d.sellers.seller_tokens[seller]),
            _request(
                postgraphile.UP_NEXT,
                {"first": 50, "user": str(seller)},
                pg.token(seller, d.sellers.org_id),
            ),
            up_next_rows,
            queries.UP_NEXT,
            postgraphile.UP_NEXT,
        ),
        Case(
            "authenticated one-row read",
            _request(SEKVENS_VIEWER, {}, d.grid.admin_token),
            _request(
                postgraphile.VIEWER,
                {"id": str(d.grid.admin_id)},
                pg.token(d.grid.admin_id, d.grid.org_id),
            ),
            viewer_rows,
            SEKVENS_VIEWER,
            postgraphile.VIEWER,
        ),
        Case(
            "anonymous { __typename }",
            _request(TYPENAME, {}, None),
            _request(TYPENAME, {}, None),
            typename_rows,
            TYPENAME,
            TYPENAME,
        ),
    ]


def answer(port: int, request: served.Request, who: str) -> dict[str, Any]:
    status, body = served.fetch(port, request)
    payload = json.loads(body) if body else {}
    if status != 200 or payload.get("errors"):
        raise RuntimeError(f"{who} answered {status}: {body[:2000]!r}")
    return payload


def same_rows(case: Case, sekvens_port: int, peer_port: int) -> int:
    """Both servers' rows for `case`, compared; returns how many rows matched."""
    mine = case.rows(answer(sekvens_port, case.mine, "sekvens"), False)
    theirs = case.rows(answer(peer_port, case.peer, "PostGraphile"), True)
    if mine != theirs:
        diff = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b), None)
        where = (
            f"row {diff}: sekvens {mine[diff]} / PostGraphile {theirs[diff]}"
            if diff is not None
            else f"{len(mine)} rows from sekvens, {len(theirs)} from PostGraphile"
        )
        raise RuntimeError(f"{case.label}: the two servers return different rows; {where}")
    return len(mine)


# --- Statements per request -----------------------------------------------------------------


async def sekvens_statements(url: str, cases: list[Case]) -> dict[str, int]:
    """Statements sekvens sends for each case's request, counted in-process (ASGI) as the
    `statements` scenario counts them, after one request warmed the caches."""
    import httpx

    from bench.statements import counting
    from sekvens.app import create_app

    db = data.open_db(url)
    out = {}
    try:
        app = create_app(db.settings, db)
        transport = httpx.ASGITransport(app=app)
        # The lifespan runs, as under uvicorn (the token cache serves while the app listens).
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://s") as client,
        ):
            for case in cases:
                headers = {"Content-Type": "application/json", **case.mine.headers}
                await client.post("/graphql", content=case.mine.body, headers=headers)
                with counting(db) as seen:
                    response = await client.post(
                        "/graphql", content=case.mine.body, headers=headers
                    )
                assert response.status_code == 200 and not response.json().get("errors")
                out[case.label] = len(seen)
    finally:
        await db.dispose()
    return out


def peer_statements(traced: postgraphile.PostGraphile, cases: list[Case]) -> dict[str, int]:
    """Statements PostGraphile sends for each case's request (its debug log of every query,
    on a separate traced instance), after one request warmed its caches."""
    out = {}
    for case in cases:
        answer(traced.port, case.peer, "PostGraphile")
        before = len(traced.queries())
        answer(traced.port, case.peer, "PostGraphile")
        out[case.label] = len(traced.queries()) - before
    return out


# --- Load ----------------------------------------------------------------------------------


def settings(opts: common.Options) -> dict[str, Any]:
    return {
        "clients": " and ".join(str(c) for c in CLIENTS),
        "rounds": 1 if opts.smoke else 3,
        "seconds per round": 0.5 if opts.smoke else 10.0,
        "warm-up seconds": 0.2 if opts.smoke else 2.0,
    }


def measure(
    opts: common.Options, case: Case, ports: dict[str, int]
) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """{clients: {server: [round results]}}, the servers taking turns to go first."""
    s = settings(opts)
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for clients in CLIENTS:
        runs: dict[str, list[dict[str, Any]]] = {"sekvens": [], "PostGraphile": []}
        for r in range(s["rounds"]):
            order = ("sekvens", "PostGraphile") if r % 2 == 0 else ("PostGraphile", "sekvens")
            for name in order:
                request = case.mine if name == "sekvens" else case.peer
                res = served.load(
                    ports[name], request, clients, s["seconds per round"], s["warm-up seconds"]
                )
                if res["errors"]:
                    raise RuntimeError(f"{name}: {res['errors']} errors: {res['first_error']}")
                common.log(
                    f"{case.label} @{clients} round {r + 1} {name}: {res['rps']} req/s, "
                    f"p50 {res['p50_ms']} ms"
                )
                runs[name].append(res)
        out[clients] = runs
    return out


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:,.1f}" if lo == hi else f"{lo:,.1f}{chr(0x2013)}{hi:,.1f}"


def rows_of(
    label: str, results: dict[int, dict[str, list[dict[str, Any]]]]
) -> list[dict[str, Any]]:
    rows = []
    for clients, runs in results.items():
        mine, theirs = runs["sekvens"], runs["PostGraphile"]
        m_rps = common.median([r["rps"] for r in mine])
        t_rps = common.median([r["rps"] for r in theirs])
        rows.append(
            {
                "request": label,
                "clients": clients,
                "sekvens req/s": round(m_rps, 1),
                "PostGraphile req/s": round(t_rps, 1),
                "ratio": round(m_rps / t_rps, 3) if t_rps else 0.0,
                "sekvens p50 ms": round(common.median([r["p50_ms"] for r in mine]), 2),
                "PostGraphile p50 ms": round(common.median([r["p50_ms"] for r in theirs]), 2),
                "rounds req/s (sekvens / PostGraphile)": (
                    f"{_span([r['rps'] for r in mine])} / {_span([r['rps'] for r in theirs])}"
                ),
            }
        )
    return rows


# --- The scenario ------------------------------------------------------------------------------


def skipped(opts: common.Options, reason: str, sizes: dict[str, Any]) -> None:
    common.log(f"{SCENARIO}: skipped: {reason}")
    common.write_result(
        opts,
        SCENARIO,
        TITLE,
        sizes,
        [],
        notes=[f"Skipped: {reason}."],
        status="skipped",
    )


def run(opts: common.Options, folder: Any, how: str, grid_sizes: list[int]) -> None:
    sizes: dict[str, Any] = {
        "sequences (home grid)": grid_sizes,
        "records": opts.size(4000, 100),
        "connections per active sequence": opts.size(8, 2),
        "sellers": 5,
        "open activities per seller": opts.size(1000, 60),
        "page": 50,
        "designer steps": 40,
    }
    url = asyncio.run(common.create_database(opts, "peer"))
    servers: list[Any] = []
    try:
        d = Data(url, opts)
        common.log(f"{SCENARIO}: setting up ({grid_sizes[0]} sequences)")
        asyncio.run(d.setup(sizes, grid_sizes[0]))
        # PostGraphile has no rate limit; sekvens' would refuse the load generator.
        mine = served.start("sekvens", url, SEKVENS_RATE_LIMIT_PER_SECOND="0")
        servers.append(mine)
        traced = postgraphile.start(folder, url, trace=True)
        servers.append(traced)
        first = cases(d, traced, f"home grid ({grid_sizes[0]:,} sequences)")
        checked = {c.label: same_rows(c, mine.port, traced.port) for c in first}
        counts_peer = peer_statements(traced, first)
        counts_mine = asyncio.run(sekvens_statements(url, first))
        if opts.smoke:  # figures are not read: save a start and load the traced instance
            peer = traced
        else:  # the trace writes a line per statement: time an instance without it
            traced.stop()
            peer = postgraphile.start(folder, url)
            servers.append(peer)
        ports = {"sekvens": mine.port, "PostGraphile": peer.port}
        common.log(f"{SCENARIO}: same rows from both ({checked}); loading")
        all_cases = cases(d, peer, first[0].label)
        grid_rows_: list[dict[str, Any]] = []
        other_rows: list[dict[str, Any]] = []
        results: dict[str, dict[int, dict[str, list[dict[str, Any]]]]] = {}
        for i, case in enumerate(all_cases):
            results[case.label] = measure(opts, case, ports)
            (other_rows if i else grid_rows_).extend(rows_of(case.label, results[case.label]))
        grid_labels = [first[0].label]
        for size in grid_sizes[1:]:
            common.log(f"{SCENARIO}: growing the grid's organization to {size} sequences")
            asyncio.run(d.grow(size, sizes["connections per active sequence"]))
            case = cases(d, peer, f"home grid ({size:,} sequences)")[0]
            checked[case.label] = same_rows(case, mine.port, peer.port)
            counts_mine.update(asyncio.run(sekvens_statements(url, [case])))
            grid_labels.append(case.label)
            results[case.label] = measure(opts, case, ports)
            grid_rows_.extend(rows_of(case.label, results[case.label]))
        rows = grid_rows_ + other_rows
    finally:
        for server in servers:
            server.stop()
        asyncio.run(common.drop_database(opts, url))

    targets: list[common.Target] = []
    for row in rows:
        goal = row["request"].startswith(("home grid", "up next", "designer"))
        clients = f"{row['clients']} client{'s' if row['clients'] > 1 else ''}"
        name = f"{row['request']} @ {clients}: req/s vs PostGraphile"
        if goal:
            targets.append(common.ratio_target(name, row["ratio"], 1.0))
        else:
            targets.append(common.Target(name, "reported", row["ratio"], None, "x"))
    growth_rows = []
    if len(grid_labels) > 1:
        small, large = grid_labels[0], grid_labels[-1]
        for server in ("sekvens", "PostGraphile"):
            p50 = {
                label: common.median([r["p50_ms"] for r in results[label][1][server]])
                for label in (small, large)
            }
            growth = p50[large] / p50[small] if p50[small] else 0.0
            growth_rows.append(
                {
                    "server": server,
                    f"p50 ms @ {grid_sizes[0]:,}": round(p50[small], 2),
                    f"p50 ms @ {grid_sizes[-1]:,}": round(p50[large], 2),
                    "growth": round(growth, 3),
                }
            )
            if server == "sekvens":
                targets.append(
                    common.Target(
                        f"home grid: p50 at {grid_sizes[-1]:,} / at {grid_sizes[0]:,} "
                        "sequences (1 client)",
                        "<= 1.2x",
                        round(growth, 3),
                        growth <= 1.2,
                        "x",
                    )
                )
    statement_rows = [
        {
            "request": label,
            "sekvens": counts_mine.get(label),
            "PostGraphile": counts_peer.get(label, counts_peer.get(first[0].label))
            if label.startswith("home grid")
            else counts_peer.get(label),
            "rows compared": checked.get(label),
        }
        for label in [*grid_labels, *[c.label for c in all_cases[1:]]]
    ]
    tables = [
        {"title": "Requests per second and median latency, same run, alternating", "rows": rows},
        {
            "title": "Statements per request, and rows both servers returned alike",
            "rows": statement_rows,
        },
    ]
    if growth_rows:
        tables.append(
            {"title": "Home grid as the organization grows (1 client)", "rows": growth_rows}
        )
    pg_version = asyncio.run(common.postgres_version(opts.postgres_url))
    common.write_result(
        opts,
        SCENARIO,
        TITLE,
        {**sizes, **settings(opts)},
        tables,
        targets,
        [
            f"PostGraphile {postgraphile.version(folder)} on Node.js "
            f"{postgraphile.node_version()} ({how}): one process, pool of "
            f"{postgraphile.POOL}, JWT (claims set per request, no database lookup), no query "
            "log, `--dynamic-json`, simplify inflector and connection filter plugins. sekvens: "
            "one uvicorn process as in the other HTTP scenarios.",
            "sekvens' rate limit is off for this run (PostGraphile has none).",
            "PostGraphile enforces no organization scoping beyond the condition the client "
            "sends, which favours it slightly.",
            "Statements: sekvens counted in-process as in the statements scenario (pre-pings "
            "not counted); PostGraphile from its debug log of queries (BEGIN, set_config and "
            "COMMIT included), on a separate instance (in smoke runs, the one loaded).",
            "The home grid's organization is grown in place between sizes (same records); the "
            "designer's sequence (not on the grid's page) is one more in it. The designer, up "
            "next, the one-row read and `{ __typename }` are measured at the first size.",
            *[
                f"Documents ({c.label}): sekvens `{' '.join(c.mine_doc.split())}`; "
                f"PostGraphile `{' '.join(c.peer_doc.split())}`"
                for c in all_cases
            ],
        ],
        pg_version=pg_version,
    )


def main() -> None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--grid-sizes", default="")
    extra, rest = pre.parse_known_args()
    opts = common.options(__doc__.splitlines()[0], rest)
    grid_sizes = [int(s) for s in extra.grid_sizes.split(",") if s] or (
        [60, 120] if opts.smoke else [1000, 10000]
    )
    try:
        if opts.backend != "postgres":
            skipped(opts, "PostGraphile serves PostgreSQL only", {})
            return
        folder, how = postgraphile.install()
        if folder is None:
            skipped(opts, how, {"sequences (home grid)": grid_sizes})
            return
        run(opts, folder, how, sorted(grid_sizes))
    finally:
        common.cleanup(opts)


if __name__ == "__main__":
    sys.exit(main())
