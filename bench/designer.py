"""Designer over HTTP: one 40-step sequence with its whole step tree and its validation,
from a real uvicorn process, against a bare Starlette endpoint running the same SQL and
returning the same JSON. Target: at least 0.5x the bare endpoint's req/s."""

from __future__ import annotations

import asyncio
import random

from bench import common, data, queries, served
from sekvens.plugins.registry import Registry
from sekvens.schema.relay import to_global_id

SCENARIO = "designer"
TITLE = "Designer over HTTP (40-step sequence)"


async def setup(opts: common.Options) -> tuple[str, data.BenchOrg, int, dict[str, int]]:
    sizes = {"steps": 40, "other sequences": opts.size(200, 10)}
    url = await common.create_database(opts, SCENARIO)
    db = data.open_db(url)
    try:
        rng = random.Random(common.SEED)
        registry = Registry.from_entry_points()
        org = await data.organization(db)
        await data.tags(db, org, rng)
        await data.sequences(db, registry, org, rng, sizes["other sequences"])
        seq_id = await data.sequence(
            db, registry, org, "Designer", data.designer_steps(sizes["steps"]), activate=False
        )
    finally:
        await db.dispose()
    return url, org, seq_id, sizes


def main() -> None:
    opts = common.options(__doc__.splitlines()[0])
    common.log(f"{SCENARIO} on {opts.backend}: setting up")
    url, org, seq_id, sizes = asyncio.run(setup(opts))
    try:
        request = served.graphql_request(
            queries.DESIGNER, {"id": to_global_id("Sequence", seq_id)}, org.admin_token
        )
        result = served.compare(
            opts,
            url,
            "designer",
            request,
            served.Request("/designer", request.body, request.headers),
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
                "Document: " + " ".join(queries.DESIGNER.split()),
            ],
        )
    finally:
        asyncio.run(common.drop_database(opts, url))
        common.cleanup(opts)


if __name__ == "__main__":
    main()
