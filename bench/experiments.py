"""What the proposed engine changes would gain, measured before anyone writes them.

    python -m bench.experiments [--backend sqlite|postgres] [--smoke]

Runs the engine scenario's data (`bench.engine`, a smaller number of due connections)
through the engine as it is, then with the changes that `bench/NOTES.md` asks for applied
one after another as monkeypatches in the worker process (sekvens' files are untouched).
The template cache (7), the assignees per batch (8), the batch's prefetched activities,
outbox keys and events (9), no savepoint per connection (10), no flush inside a step (11)
and one UPDATE executemany for the batch's connections (half of 12) are in the engine now
(sekvens/engine/runner.py, worker.py), so no patch is left: the table shows the engine as
is against the baseline until a new proposal adds one.

Each variant runs in its own process on a fresh copy of the data; the raw baseline
(`bench.engine_worker baseline`) runs on the same connections. The patches follow the
engine's code as it is now and are a measuring device, not a fix: if the engine changes,
they may stop applying (the experiment then says so and stops).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import common

SCENARIO = "engine_experiments"
TITLE = "Engine: what the proposed changes would gain (experiments)"
VARIANTS = ["as is"]


# --- The patches ---------------------------------------------------------------------------

#: None left: (7) to (11) and the connections' UPDATEs of (12) are in the engine now (issue 14;
#: see docs/benchmarks.md, Profiles, Engine). A new proposal adds its patch here.
PATCHES: list[Callable[[], None]] = []


# --- Child: one variant --------------------------------------------------------------------


async def child(url: str, patches: int) -> dict[str, Any]:
    from sqlalchemy import event

    import sekvens.engine.runner
    import sekvens.plugins.email.send  # noqa: F401
    from sekvens.config import Settings
    from sekvens.engine.worker import Engine
    from sekvens.plugins.registry import Registry
    from sekvens.storage.db import Database

    for patch in PATCHES[:patches]:
        patch()
    db = Database(Settings(database_url=url))
    engine = Engine(db, Registry.from_entry_points())
    count = [0]

    def record(*_: Any) -> None:
        count[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    started = time.perf_counter()
    processed = await engine.run_until_idle()
    seconds = time.perf_counter() - started
    await db.dispose()
    return {"processed": processed, "seconds": seconds, "statements": count[0]}


# --- Orchestration -------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        print(json.dumps(asyncio.run(child(sys.argv[2], int(sys.argv[3])))), flush=True)
        return
    from bench import engine

    opts = common.options(__doc__.splitlines()[0])
    n = opts.size(4000, 200)
    common.log(f"{SCENARIO} on {opts.backend}: {n} due connections")
    source, _ = asyncio.run(engine.setup(opts, n))
    runs: dict[str, dict[str, Any]] = {}
    try:
        for i, name in enumerate(VARIANTS):
            url = asyncio.run(common.clone_database(opts, source, f"variant{i}"))
            try:
                before = asyncio.run(engine.state(url))
                result = common.run_child("bench.experiments", "child", url, str(i))
                after = asyncio.run(engine.state(url))
            finally:
                asyncio.run(common.drop_database(opts, url))
            if after["errors"] or after["due"]:
                raise RuntimeError(f"variant {name}: {after}")
            result["transitions"] = after["steps_done"] - before["steps_done"] + before["due"]
            runs[name] = result
            common.log(
                f"{name}: {result['transitions'] / result['seconds']:.0f} transitions/s, "
                f"{result['statements'] / n:.1f} statements/connection"
            )
        base = engine.measure(opts, source, "base", "baseline", 1, n)
    finally:
        asyncio.run(common.drop_database(opts, source))
        common.cleanup(opts)
    first = runs[VARIANTS[0]]
    rows = []
    for name, r in runs.items():
        rate = r["transitions"] / r["seconds"]
        rows.append(
            {
                "variant": name,
                "transitions/s": round(rate),
                "speed-up vs as is": round(rate / (first["transitions"] / first["seconds"]), 2),
                "ratio vs baseline": round(rate / base["rate"], 3),
                "statements/connection": round(r["statements"] / n, 2),
            }
        )
    rows.append(
        {
            "variant": "baseline (raw UPDATE + INSERT)",
            "transitions/s": round(base["rate"]),
            "speed-up vs as is": None,
            "ratio vs baseline": 1.0,
            "statements/connection": round(base["statements"] / n, 2),
        }
    )
    common.write_result(
        opts,
        SCENARIO,
        TITLE,
        {"due connections": n, "batch": 200},
        [{"title": "Cumulative changes, applied as monkeypatches", "rows": rows}],
        notes=[
            "Each line adds one change to the ones above it; see bench/experiments.py for "
            "the exact patches and bench/NOTES.md for the change requests they stand for.",
        ],
    )


if __name__ == "__main__":
    main()
