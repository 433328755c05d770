"""Bulk connect: `connectSequenceByFilter` over 1,000, 10,000 and 100,000 records, against
a plain batched INSERT of the same connection rows, on the same database in the same run.

Each size gets a fresh database holding exactly that many leads (owned by 20 sellers) and
an active sequence. The baseline runs first, its rows are deleted (and the database
vacuumed), then sekvens connects the same records. Each runs in a child process whose
peak resident memory (max RSS) is reported.

Targets: records/s at least 0.25x the baseline's; peak memory under 300 MB; cost per
record flat: at the largest size at most 1.3x what it is at the next smaller one (100,000
against 10,000; at 1,000 the request's fixed cost still weighs in)."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import delete

from bench import common, data
from sekvens.plugins.registry import Registry
from sekvens.storage.tables import AuditEntry, Connection

SCENARIO = "bulk_connect"
TITLE = "Bulk connect (connectSequenceByFilter)"
FLAT = 1.3
#: The request must run to the end to be measured: the default limit (60 s) stops it on a
#: slow machine, which the result notes say.
NO_TIMEOUT = 3600


async def setup(opts: common.Options, n: int) -> tuple[str, data.BenchOrg, int]:
    url = await common.create_database(opts, f"{SCENARIO}_{n}")
    db = data.open_db(url)
    try:
        rng = random.Random(common.SEED)
        org = await data.organization(db)
        registry = Registry.from_entry_points()
        seq_id = await data.sequence(db, registry, org, "Bulk", data.chain(rng, 3))
        await data.records(db, org, rng, n)
    finally:
        await db.dispose()
    await common.vacuum(url)
    return url, org, seq_id


async def reset(url: str) -> None:
    db = data.open_db(url)
    try:
        async with db.session(write=True) as session, session.begin():
            await session.execute(delete(Connection))
            await session.execute(
                delete(AuditEntry).where(AuditEntry.action == "sequence.records_connected")
            )
    finally:
        await db.dispose()
    await common.vacuum(url)


def run_size(opts: common.Options, n: int) -> dict[str, dict[str, float]]:
    url, org, seq_id = asyncio.run(setup(opts, n))
    try:
        common.log(f"bulk connect {n}: baseline")
        base = common.run_child("bench.bulk_connect_child", "baseline", url, str(seq_id))
        asyncio.run(reset(url))
        common.log(f"bulk connect {n}: sekvens")
        mine = common.run_child(
            "bench.bulk_connect_child",
            "sekvens",
            url,
            str(seq_id),
            org.admin_token,
            env=common.child_env(SEKVENS_OPERATION_TIMEOUT_SECONDS=str(NO_TIMEOUT)),
        )
    finally:
        asyncio.run(common.drop_database(opts, url))
    for name, result in (("baseline", base), ("sekvens", mine)):
        if result["connected"] != n:
            raise RuntimeError(f"{name} connected {result['connected']} of {n}: {result}")
    common.log(
        f"bulk connect {n}: sekvens {mine['seconds']:.2f} s, baseline {base['seconds']:.2f} s, "
        f"peak {mine['max_rss_mb']} MB"
    )
    return {"sekvens": mine, "baseline": base}


def main() -> None:
    opts = common.options(__doc__.splitlines()[0])
    sizes = [100, 300] if opts.smoke else [1_000, 10_000, 100_000]
    try:
        runs = {n: run_size(opts, n) for n in sizes}
    finally:
        common.cleanup(opts)
    rows = []
    per_record = {}
    previous: tuple[int, float] | None = None
    for n, r in runs.items():
        mine, base = r["sekvens"], r["baseline"]
        ratio = base["seconds"] / mine["seconds"]
        per_record[n] = mine["seconds"] / n * 1e6
        marginal = (mine["seconds"] - previous[1]) / (n - previous[0]) * 1e6 if previous else None
        previous = (n, mine["seconds"])
        rows.append(
            {
                "records": n,
                "sekvens records/s": round(n / mine["seconds"]),
                "baseline records/s": round(n / base["seconds"]),
                "ratio": round(ratio, 3),
                "sekvens us/record": round(per_record[n], 1),
                "sekvens marginal us/record": round(marginal, 1) if marginal else None,
                "baseline us/record": round(base["seconds"] / n * 1e6, 1),
                "sekvens statements": mine["statements"],
                "baseline statements": base["statements"],
                "sekvens peak RSS MB": mine["max_rss_mb"],
                "sekvens RSS before MB": mine["rss_before_mb"],
                "baseline peak RSS MB": base["max_rss_mb"],
            }
        )
    largest = sizes[-1]
    big = runs[largest]
    ratio = big["baseline"]["seconds"] / big["sekvens"]["seconds"]
    # Flat: the cost per record does not grow with the size (compared with the next smaller
    # size: at the smallest the request's fixed cost weighs in).
    smaller = sizes[-2]
    growth = per_record[largest] / per_record[smaller]
    targets = [
        common.ratio_target(f"bulk connect {largest:,}: records/s vs batched INSERT", ratio, 0.25),
        common.Target(
            f"bulk connect {largest:,}: peak memory",
            "< 300 MB",
            big["sekvens"]["max_rss_mb"],
            big["sekvens"]["max_rss_mb"] < 300,
            "MB",
        ),
        common.Target(
            f"bulk connect: cost per record at {largest:,} / at {smaller:,}",
            f"<= {FLAT}x (flat)",
            round(growth, 2),
            growth <= FLAT,
            "x",
        ),
    ]
    common.write_result(
        opts,
        SCENARIO,
        TITLE,
        {"records": sizes, "chunk": 1000, "sellers": 20},
        [{"title": "Records connected per second, cost and memory", "rows": rows}],
        targets,
        [
            "sekvens: one connectSequenceByFilter request (filter: recordType lead) through the "
            "ASGI app in a child process; the time is the request's. Baseline: SELECT the ids "
            "in keyset batches of 1,000 and INSERT the same rows, one transaction, SQLAlchemy "
            "Core executemany.",
            "Peak RSS is the child's maximum resident set; 'before' is its size after start-up "
            "(imports, schema) and before the request.",
        ],
    )


if __name__ == "__main__":
    main()
