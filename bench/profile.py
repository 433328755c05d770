"""Profile the hot paths with pyinstrument: `python -m bench.profile [--backend ...] [names]`.

Each profile runs the scenario's work in-process (the app through ASGI, the engine's
batches, one bulk connect, one import) on the scenario's own data, and writes to
`$TMPDIR/sekvens-profiles/<backend>/`:

- `<name>.txt`: pyinstrument's call tree;
- `<name>.html`: the same, to browse;
- `<name>.summary.txt`: sampled time by package and the top functions by own time, which
  is what `bench/NOTES.md` quotes.

Names: home_grid, designer, up_next, engine, bulk_connect, import_sequences (all when none
are given); engine_changed: the engine with every change of `bench.experiments` applied;
graphql_floor: CPU per request in-process of the bare endpoint, of sekvens, and of
graphql-core alone executing the document over the bare endpoint's JSON (no resolvers):
the best ratio any resolver layer on graphql-core's executor can reach; fixed_cost: CPU
per request in-process and statements of an anonymous `{ __typename }`, of
`{ viewer { user { email } } }` with a (cached) token and of `/readyz`, with a profile of
the viewer query (issue 14, target 3). Needs the `bench` extra (pyinstrument).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from pyinstrument import Profiler

from bench import common, data, queries
from sekvens.app import create_app
from sekvens.schema.relay import to_global_id

#: Profiles are big (the HTML ones especially): they go to a temporary folder, not the repo.
PROFILES = Path(tempfile.gettempdir()) / "sekvens-profiles"
PACKAGES = (
    "strawberry",
    "graphql",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "pydantic",
    "jinja2",
    "starlette",
    "httpx",
    "sekvens",
    "bench",
    "asyncio",
    "json",
    "uvloop",
)


def _package(path: str | None) -> str:
    if not path:
        return "(other)"
    parts = Path(path).parts
    for name in PACKAGES:
        if name in parts or f"{name}.py" in parts:
            return name
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    return "(stdlib/other)"


IDLE = "(idle: waiting on I/O or the database thread)"


def _owner(frame: Any) -> str:
    """The package a frame's own time is charged to: built-ins go to their caller's."""
    if frame.function in ("epoll.poll", "select.epoll.poll", "poll", "select"):
        return IDLE
    node = frame
    while node is not None and (node.file_path in (None, "<built-in>") or node.is_synthetic):
        node = node.parent
    return _package(node.file_path) if node is not None else "(other)"


def summary(profiler: Profiler, top: int = 30) -> str:
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    by_package: dict[str, float] = defaultdict(float)
    by_function: dict[tuple[str, str, int], float] = defaultdict(float)
    stack = [root] if root is not None else []
    while stack:
        frame = stack.pop()
        stack.extend(frame.children)
        if frame.is_synthetic:
            continue
        own = frame.total_self_time
        if own <= 0:
            continue
        by_package[_owner(frame)] += own
        where = frame.file_path_short or frame.file_path or "?"
        by_function[(frame.function or "?", where, frame.line_no or 0)] += own
    total = sum(by_package.values()) or 1.0
    lines = [f"sampled {total:.2f} s", "", "own time by package (built-ins charged to caller):"]
    for name, seconds in sorted(by_package.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {100 * seconds / total:5.1f}%  {seconds:7.2f} s  {name}")
    lines += ["", f"top {top} functions by own time:"]
    ranked = sorted(by_function.items(), key=lambda kv: -kv[1])[:top]
    for (function, where, line), seconds in ranked:
        lines.append(f"  {100 * seconds / total:5.1f}%  {function}  {where}:{line}")
    return "\n".join(lines) + "\n"


def _write(out: Path, name: str, profiler: Profiler, summary_text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    (out / f"{name}.html").write_text(profiler.output_html())
    (out / f"{name}.summary.txt").write_text(summary_text)


async def _profile(name: str, out: Path, work: Callable[[], Awaitable[Any]]) -> None:
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    started = time.perf_counter()
    detail = await work()
    seconds = time.perf_counter() - started
    profiler.stop()
    text = f"{name}: {detail} in {seconds:.2f} s\n\n" + summary(profiler)
    _write(out, name, profiler, text)
    common.log(f"profile {name}: {detail} in {seconds:.2f} s -> {out / name}.txt")


async def _http(
    url: str, out: Path, name: str, path: str, query: str, variables: dict[str, Any], token: str
) -> None:
    db = data.open_db(url)
    app = create_app(db.settings, db)
    body = {"query": query, "variables": variables}
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as client:
        for _ in range(5):  # warm caches (parser, validation, statements)
            assert (await client.post(path, json=body, headers=headers)).status_code == 200
        n = 100

        async def work() -> str:
            for _ in range(n):
                await client.post(path, json=body, headers=headers)
            return f"{n} requests"

        await _profile(name, out, work)
    await db.dispose()


def profile_http(opts: common.Options, out: Path, name: str) -> None:
    if name == "home_grid":
        from bench.home_grid import setup

        url, org, _ = asyncio.run(setup(opts))
        args = ("/graphql", queries.GRID, {"first": 50}, org.admin_token)
    elif name == "designer":
        from bench.designer import setup as designer_setup

        url, org, seq_id, _ = asyncio.run(designer_setup(opts))
        args = (
            "/graphql",
            queries.DESIGNER,
            {"id": to_global_id("Sequence", seq_id)},
            org.admin_token,
        )
    else:
        from bench.up_next import setup as up_next_setup

        url, org, _ = asyncio.run(up_next_setup(opts))
        args = ("/graphql", queries.UP_NEXT, {"first": 50}, org.seller_tokens[org.seller_ids[0]])
    try:
        asyncio.run(_http(url, out, name, *args))
    finally:
        asyncio.run(common.drop_database(opts, url))


def profile_engine(opts: common.Options, out: Path, changed: bool = False) -> None:
    from bench.engine import setup
    from sekvens.engine.worker import Engine
    from sekvens.plugins.registry import Registry

    url, _ = asyncio.run(setup(opts, opts.size(4000, 200)))

    async def run() -> None:
        if changed:
            import sekvens.plugins.email.send  # noqa: F401  (the patches look for it)
            from bench.experiments import PATCHES

            for patch in PATCHES:
                patch()
        db = data.open_db(url)
        engine = Engine(db, Registry.from_entry_points())

        async def work() -> str:
            return f"{await engine.run_until_idle()} connections"

        await _profile("engine_changed" if changed else "engine", out, work)
        await db.dispose()

    try:
        asyncio.run(run())
    finally:
        asyncio.run(common.drop_database(opts, url))


def profile_bulk_connect(opts: common.Options, out: Path) -> None:
    from bench.bulk_connect import setup
    from bench.bulk_connect_child import MUTATION

    n = opts.size(20_000, 300)
    url, org, seq_id = asyncio.run(setup(opts, n))

    async def run() -> None:
        db = data.open_db(url)
        app = create_app(db.settings, db)
        variables = {
            "input": {
                "sequenceId": to_global_id("Sequence", seq_id),
                "filter": {"recordType": "lead"},
            }
        }
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=None
        ) as client:
            headers = {"Authorization": f"Bearer {org.admin_token}"}
            await client.post("/graphql", json={"query": "{ viewer { roles } }"}, headers=headers)

            async def work() -> str:
                response = await client.post(
                    "/graphql", json={"query": MUTATION, "variables": variables}, headers=headers
                )
                count = response.json()["data"]["connectSequenceByFilter"]["connectedCount"]
                return f"{count} records connected"

            await _profile("bulk_connect", out, work)
        await db.dispose()

    try:
        asyncio.run(run())
    finally:
        asyncio.run(common.drop_database(opts, url))


def profile_import(opts: common.Options, out: Path) -> None:
    import bench.import_sequences as scenario
    from bench.import_child import MUTATION

    if not scenario.available():
        common.log("profile import_sequences: no importSequences yet")
        return
    n, steps = opts.size(100, 5), opts.size(20, 5)
    source = asyncio.run(scenario.make_source(opts, n, steps, opts.workdir))
    target_url, target = asyncio.run(scenario.make_target(opts))
    document = source["document"].read_text()

    async def run() -> None:
        db = data.open_db(target_url)
        app = create_app(db.settings, db)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=None
        ) as client:
            headers = {"Authorization": f"Bearer {target.admin_token}"}
            variables = {"input": {"document": document, "mode": "APPLY"}}

            async def work() -> str:
                response = await client.post(
                    "/graphql", json={"query": MUTATION, "variables": variables}, headers=headers
                )
                report = response.json()["data"]["importSequences"]["report"]
                return f"{len(report['sequences'])} sequences of {steps} steps imported"

            await _profile("import_sequences", out, work)
        await db.dispose()

    try:
        asyncio.run(run())
    finally:
        for url in (source["url"], target_url):
            asyncio.run(common.drop_database(opts, url))


async def _floor(
    name: str, url: str, bare_path: str, query: str, variables: dict[str, Any], token: str
) -> str:
    """Per-request cost in-process of: the bare endpoint, sekvens, and graphql-core alone
    executing the same document over the bare endpoint's JSON (plain dicts, no resolvers)."""
    import graphql

    from bench import bare

    db = data.open_db(url)
    apps = {"bare": bare.create_app(db.settings, db), "sekvens": create_app(db.settings, db)}
    body = {"query": query, "variables": variables}
    headers = {"Authorization": f"Bearer {token}"}
    n = 100
    per_request = {}
    payload: dict[str, Any] = {}
    for kind, app in apps.items():
        path = bare_path if kind == "bare" else "/graphql"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            for _ in range(5):
                response = await client.post(path, json=body, headers=headers)
            payload = response.json() if kind == "bare" else payload
            started = time.process_time()
            for _ in range(n):
                await client.post(path, json=body, headers=headers)
            per_request[kind] = (time.process_time() - started) / n
    await db.dispose()
    schema = graphql.build_schema((common.ROOT / "schema.graphql").read_text())
    document = graphql.parse(query)
    assert not graphql.validate(schema, document)
    root = payload["data"]
    result = graphql.execute(schema, document, root_value=root, variable_values=variables)
    assert not result.errors and result.data == root, result.errors
    started = time.process_time()
    for _ in range(n):
        graphql.execute(schema, document, root_value=root, variable_values=variables)
    per_request["graphql-core alone"] = (time.process_time() - started) / n
    bare_ms = per_request["bare"] * 1000
    lines = [f"{name}: CPU ms per request, in-process (ASGI, {n} requests)"]
    for kind, seconds in per_request.items():
        lines.append(f"  {kind:<20} {seconds * 1000:7.2f} ms")
    core_ms = per_request["graphql-core alone"] * 1000
    lines.append(
        f"  best ratio reachable on graphql-core's executor: bare / (bare + graphql-core) = "
        f"{bare_ms / (bare_ms + core_ms):.2f}"
    )
    return "\n".join(lines)


def profile_floor(opts: common.Options, out: Path) -> None:
    """What graphql-core's executor alone costs per page, against the bare endpoint."""
    from bench.designer import setup as designer_setup
    from bench.home_grid import setup as grid_setup
    from bench.up_next import setup as up_next_setup

    reports = []
    url, org, _ = asyncio.run(grid_setup(opts))
    try:
        reports.append(
            asyncio.run(
                _floor("home grid", url, "/grid", queries.GRID, {"first": 50}, org.admin_token)
            )
        )
    finally:
        asyncio.run(common.drop_database(opts, url))
    url, org, seq_id, _ = asyncio.run(designer_setup(opts))
    try:
        variables = {"id": to_global_id("Sequence", seq_id)}
        reports.append(
            asyncio.run(
                _floor("designer", url, "/designer", queries.DESIGNER, variables, org.admin_token)
            )
        )
    finally:
        asyncio.run(common.drop_database(opts, url))
    url, org, _ = asyncio.run(up_next_setup(opts))
    try:
        token = org.seller_tokens[org.seller_ids[0]]
        reports.append(
            asyncio.run(_floor("up next", url, "/upnext", queries.UP_NEXT, {"first": 50}, token))
        )
    finally:
        asyncio.run(common.drop_database(opts, url))
    out.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(reports) + "\n"
    (out / "graphql_floor.summary.txt").write_text(text)
    print(text)


FIXED_COST_ROUNDS = 5


async def _fixed_cost(url: str, out: Path) -> str:
    """CPU per request (median of alternating rounds) and statements of the fixed-cost cases,
    the app's lifespan running (PostgreSQL: the token cache serves only while it listens)."""
    from bench.statements import counting
    from sekvens.config import Settings
    from sekvens.storage.db import Database

    # the rate limit off, as in the HTTP runs (and peer_postgraphile)
    db = Database(Settings(database_url=url, rate_limit_per_second=0))
    org = await data.organization(db, sellers=1)
    app = create_app(db.settings, db)
    bearer = {"Authorization": f"Bearer {org.admin_token}"}
    cases: dict[str, tuple[str, dict[str, Any] | None, dict[str, str]]] = {
        "anonymous { __typename }": ("/graphql", {"query": "{ __typename }"}, {}),
        "{ viewer { user { email } } }": (
            "/graphql",
            {"query": "{ viewer { user { email } } }"},
            bearer,
        ),
        "/readyz": ("/readyz", None, {}),
    }
    n = 300 if db.is_sqlite else 200
    cpu: dict[str, list[float]] = defaultdict(list)
    statements: dict[str, int] = {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):

        async def call(path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
            if body is None:
                response = await client.get(path)
            else:
                response = await client.post(path, json=body, headers=headers)
            assert response.status_code == 200 and "errors" not in response.json(), response.text

        for label, case in cases.items():
            for _ in range(30):
                await call(*case)
            with counting(db) as seen:
                await call(*case)
            statements[label] = len(seen)
        for _ in range(FIXED_COST_ROUNDS):
            for label, case in cases.items():
                started = time.process_time()
                for _ in range(n):
                    await call(*case)
                cpu[label].append((time.process_time() - started) / n)

        async def work() -> str:
            for _ in range(n):
                await call(*cases["{ viewer { user { email } } }"])
            return f"{n} viewer requests"

        await _profile("fixed_cost_viewer", out, work)
    await db.dispose()
    anonymous = common.median(cpu["anonymous { __typename }"])
    lines = [
        f"fixed cost: CPU ms per request in-process (ASGI), median of {FIXED_COST_ROUNDS}"
        f" alternating rounds of {n}; statements per request"
    ]
    for label, values in cpu.items():
        ms = common.median(values) * 1000
        lines.append(
            f"  {label:<32} {ms:6.2f} ms ({min(values) * 1000:.2f} to {max(values) * 1000:.2f})"
            f"  {common.median(values) / anonymous:5.2f}x  {statements[label]} statements"
        )
    return "\n".join(lines)


def profile_fixed_cost(opts: common.Options, out: Path) -> None:
    url = asyncio.run(common.create_database(opts, "fixed"))
    try:
        text = asyncio.run(_fixed_cost(url, out))
    finally:
        asyncio.run(common.drop_database(opts, url))
    out.mkdir(parents=True, exist_ok=True)
    (out / "fixed_cost.summary.txt").write_text(text + "\n")
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    argv = ["--backend", args.backend] + (["--smoke"] if args.smoke else [])
    opts = common.options(__doc__.splitlines()[0], argv)
    out = PROFILES / args.backend
    names = args.names or [
        "home_grid",
        "designer",
        "up_next",
        "engine",
        "bulk_connect",
        "import_sequences",
    ]
    try:
        for name in names:
            if name in ("home_grid", "designer", "up_next"):
                profile_http(opts, out, name)
            elif name == "engine":
                profile_engine(opts, out)
            elif name == "engine_changed":
                profile_engine(opts, out, changed=True)
            elif name == "graphql_floor":
                profile_floor(opts, out)
            elif name == "fixed_cost":
                profile_fixed_cost(opts, out)
            elif name == "bulk_connect":
                profile_bulk_connect(opts, out)
            elif name == "import_sequences":
                profile_import(opts, out)
            else:
                parser.error(f"unknown profile {name}")
    finally:
        common.cleanup(opts)


if __name__ == "__main__":
    main()
