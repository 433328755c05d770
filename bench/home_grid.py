"""Home grid over HTTP: `sequences(first: 50)` with owner, tags, step count and active
connections, from a real uvicorn process, against a bare Starlette endpoint running the
same SQL and returning the same JSON. Target: at least 0.5x the bare endpoint's req/s."""

from __future__ import annotations

import asyncio
import random

from bench import common, data, queries, served
from sekvens.plugins.registry import Registry

SCENARIO = "home_grid"
TITLE = "Home grid over HTTP"


async def setup(opts: common.Options) -> tuple[str, data.BenchOrg, dict[str, int]]:
    sizes = {
        "sequences": opts.size(1000, 60),
        "records": opts.size(4000, 100),
        "connections per active sequence": opts.size(8, 2),
        "page": 50,
    }
    url = await common.create_database(opts, SCENARIO)
    db = data.open_db(url)
    try:
        rng = random.Random(common.SEED)
        registry = Registry.from_entry_points()
        org = await data.organization(db)
        await data.tags(db, org, rng)
        ids = await data.sequences(db, registry, org, rng, sizes["sequences"])
        await data.records(db, org, rng, sizes["records"])
        records = await data.record_ids(db, org)
        from sqlalchemy import select

        from sekvens.storage.tables import Sequence

        async with db.session() as session:
            active = list(
                await session.scalars(
                    select(Sequence.id).where(Sequence.id.in_(ids), Sequence.status == "ACTIVE")
                )
            )
        per = sizes["connections per active sequence"]
        for seq_id in active:
            picked = rng.sample(records, k=min(per, len(records)))
            await data.connect_directly(db, org, seq_id, picked)
    finally:
        await db.dispose()
    return url, org, sizes


def main() -> None:
    opts = common.options(__doc__.splitlines()[0])
    common.log(f"{SCENARIO} on {opts.backend}: setting up")
    url, org, sizes = asyncio.run(setup(opts))
    try:
        variables = {"first": 50}
        result = served.compare(
            opts,
            url,
            "home grid",
            served.graphql_request(queries.GRID, variables, org.admin_token),
            served.Request(
                "/grid",
                served.graphql_request(queries.GRID, variables, org.admin_token).body,
                {"Authorization": f"Bearer {org.admin_token}"},
            ),
            lean_request=served.Request(
                "/grid-lean",
                served.graphql_request(queries.GRID, variables, org.admin_token).body,
                {"Authorization": f"Bearer {org.admin_token}"},
            ),
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
                "Document: " + " ".join(queries.GRID.split()),
                "Ratio: req/s over the bare endpoint that runs sekvens' statements. The "
                "fewest-statements endpoint answers the same JSON with the statements a "
                "hand-written server would send "
                "(the page with its counts and joins, then its tags), so the gap between the "
                "two bare rows is waste in the SQL itself.",
            ],
        )
    finally:
        asyncio.run(common.drop_database(opts, url))
        common.cleanup(opts)


if __name__ == "__main__":
    main()
