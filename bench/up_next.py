"""Up next over HTTP: a seller's `upNext(first: 50)` with record and sequence, from a real
uvicorn process, against a bare Starlette endpoint running the same SQL and returning the
same JSON. Target: at least 0.5x the bare endpoint's req/s.

The activities are made the product's way: records connected with `connect_records` and
the engine run until idle."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import select

from bench import common, data, queries, served
from sekvens.engine.connections import connect_records
from sekvens.engine.worker import Engine
from sekvens.plugins.registry import Registry
from sekvens.storage.tables import Record
from sekvens.storage.types import utcnow

SCENARIO = "up_next"
TITLE = "Up next over HTTP"


async def open_activities(
    db: data.Database, registry: Registry, org: data.BenchOrg, rng: random.Random, n: int
) -> int:
    """`n` open task activities per seller, over a few task sequences; returns the count."""
    seqs = [
        await data.sequence(db, registry, org, f"Tasks {i}", data.chain(random.Random(i), 1))
        for i in range(5)
    ]
    await data.records(db, org, rng, n * len(org.seller_ids), prefix="U")
    async with db.session(write=True) as session, session.begin():
        rows = list(
            await session.scalars(select(Record).where(Record.organization_id == org.org_id))
        )
        for start in range(0, len(rows), 1000):
            await connect_records(
                session,
                org.admin(),
                seqs[(start // 1000) % len(seqs)],
                rows[start : start + 1000],
                None,
                utcnow(),
            )
    return await Engine(db, registry, batch_size=500).run_until_idle()


async def setup(opts: common.Options) -> tuple[str, data.BenchOrg, dict[str, int]]:
    sizes = {"sellers": 5, "open activities per seller": opts.size(1000, 60), "page": 50}
    url = await common.create_database(opts, SCENARIO)
    db = data.open_db(url)
    try:
        rng = random.Random(common.SEED)
        registry = Registry.from_entry_points()
        org = await data.organization(db, sellers=sizes["sellers"])
        await open_activities(db, registry, org, rng, sizes["open activities per seller"])
    finally:
        await db.dispose()
    return url, org, sizes


def main() -> None:
    opts = common.options(__doc__.splitlines()[0])
    common.log(f"{SCENARIO} on {opts.backend}: setting up")
    url, org, sizes = asyncio.run(setup(opts))
    try:
        token = org.seller_tokens[org.seller_ids[0]]
        request = served.graphql_request(queries.UP_NEXT, {"first": 50}, token)
        result = served.compare(
            opts,
            url,
            "up next",
            request,
            served.Request("/upnext", request.body, request.headers),
            lean_request=served.Request("/upnext-lean", request.body, request.headers),
        )
        common.write_result(
            opts,
            SCENARIO,
            TITLE,
            {**sizes, **served.load_settings(opts)},
            [{"title": "Requests per second and latency", "rows": result.rows}],
            [result.target],
            [
                f"Load generator ceiling on this machine (trivial endpoint): "
                f"{result.ceiling_rps} req/s.",
                "Document: " + " ".join(queries.UP_NEXT.split()),
                "Ratio: req/s over the bare endpoint that runs sekvens' statements. The "
                "fewest-statements endpoint answers the same JSON with the statements a "
                "hand-written server would send "
                "(one, the page joined to its records and sequences), so the gap between the "
                "two bare rows is waste in the SQL itself.",
            ],
        )
    finally:
        asyncio.run(common.drop_database(opts, url))
        common.cleanup(opts)


if __name__ == "__main__":
    main()
