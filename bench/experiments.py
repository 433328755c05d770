"""What the proposed engine changes would gain, measured before anyone writes them.

    python -m bench.experiments [--backend sqlite|postgres] [--smoke]

Runs the engine scenario's data (`bench.engine`, a smaller number of due connections)
through the engine as it is, then with the changes that `bench/NOTES.md` asks for applied
one after another as monkeypatches in the worker process (sekvens' files are untouched).
The template cache (7), the assignees per batch (8), the batch's prefetched activities,
outbox keys and events (9) and no savepoint per connection (10) are in the engine now
(sekvens/engine/runner.py, worker.py); what is left to measure is

- one flush per batch (11): the runner's flushes wait for the end of the batch, so its rows go
   out as a few executemany INSERTs and UPDATEs (assignees get their activity ids then).
   It needs the session wrapper of the former prefetch patch (`_Prefetched`), whose
   idempotency answers are now redundant with the batch's own.

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
from typing import Any

from bench import common

SCENARIO = "engine_experiments"
TITLE = "Engine: what the proposed changes would gain (experiments)"
VARIANTS = [
    "as is",
    "+ one flush per batch",
]


# --- The patches ---------------------------------------------------------------------------


class _Prefetched:
    """The batch's session, answering the per-connection idempotency lookups from sets
    loaded once per batch; everything else goes to the session."""

    def __init__(self, session: Any, activity_keys: set[str], outbox: dict[str, str]):
        self._session = session
        self.activity_keys = activity_keys
        self.outbox = outbox
        #: With `defer` (the last patch): flushes wait for the end of the batch, and new
        #: activities' assignees wait there for their activity's id.
        self.defer = False
        self.last_activity: Any = None
        self.assignees: list[tuple[Any, list[Any]]] = []

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        if not self.defer:
            await self._session.flush(*args, **kwargs)

    def add_all(self, objects: Any) -> None:
        objects = list(objects)
        if self.defer and objects and type(objects[0]).__tablename__ == "activity_assignees":
            self.assignees.append((self.last_activity, objects))
            return
        self._session.add_all(objects)

    async def write_deferred(self) -> None:
        """Everything of the batch in one flush, then the assignees with their ids."""
        await self._session.flush()
        for activity, rows in self.assignees:
            for row in rows:
                row.activity_id = activity.id
            self._session.add_all(rows)
        self.assignees.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def scalar(self, stmt: Any, *args: Any, **kwargs: Any) -> Any:
        lookup = _idempotency_lookup(stmt)
        if lookup is not None:
            table, key = lookup
            if table == "activities":
                return 1 if key in self.activity_keys else None
            return self.outbox.get(key)
        return await self._session.scalar(stmt, *args, **kwargs)

    def add(self, obj: Any, *args: Any, **kwargs: Any) -> None:
        key = getattr(obj, "idempotency_key", None)
        if key is not None and type(obj).__tablename__ == "activities":
            self.activity_keys.add(key)
            self.last_activity = obj
        elif key is not None and type(obj).__tablename__ == "outbox":
            self.outbox[key] = obj.message_id
        self._session.add(obj, *args, **kwargs)


def _idempotency_lookup(stmt: Any) -> tuple[str, str] | None:
    where = getattr(stmt, "whereclause", None)
    left = getattr(where, "left", None)
    if getattr(left, "key", None) != "idempotency_key":
        return None
    table = getattr(getattr(left, "table", None), "name", None)
    value = getattr(getattr(where, "right", None), "value", None)
    return (table, value) if table in ("activities", "outbox") and value is not None else None


def patch_prefetch() -> None:
    from sqlalchemy import select

    from sekvens.engine.runner import Batch, Runner
    from sekvens.plugins.api import ActivityKind, ActivityStatus, ActivityView
    from sekvens.storage.tables import Activity, EngagementEvent, OutboxMessage

    load = Batch.load
    previous, automatic, create, replay = (
        Runner.previous_activity,
        Runner.record_automatic_activity,
        Runner.create_activity,
        Runner.replay_events,
    )

    async def batch_load(self: Any, conns: Any) -> None:
        await load(self, conns)
        ids = [c.id for c in conns]
        latest: dict[tuple[int, str], Any] = {}
        keys: set[str] = set()
        for row in await self.session.execute(
            select(
                Activity.id,
                Activity.connection_id,
                Activity.step_key,
                Activity.step_type,
                Activity.activity_kind,
                Activity.status,
                Activity.outcome,
                Activity.message_id,
                Activity.closed_at,
                Activity.idempotency_key,
            ).where(Activity.connection_id.in_(ids))
        ):
            keys.add(row.idempotency_key)
            seen = latest.get((row.connection_id, row.step_key))
            if seen is None or seen.id < row.id:
                latest[(row.connection_id, row.step_key)] = row
        outbox = dict(
            (
                await self.session.execute(
                    select(OutboxMessage.idempotency_key, OutboxMessage.message_id).where(
                        OutboxMessage.connection_id.in_(ids)
                    )
                )
            ).all()
        )
        self.__dict__["_latest"] = {
            k: ActivityView(
                step_key=r.step_key,
                type=r.step_type,
                activity_kind=ActivityKind(r.activity_kind) if r.activity_kind else None,
                status=ActivityStatus(r.status if r.status != "CANCELED" else "SKIPPED"),
                outcome=r.outcome,
                message_id=r.message_id,
                closed_at=r.closed_at,
            )
            for k, r in latest.items()
        }
        with_events = set(
            (
                await self.session.execute(
                    select(Activity.connection_id, Activity.step_key)
                    .join(EngagementEvent, EngagementEvent.activity_id == Activity.id)
                    .where(Activity.connection_id.in_(ids))
                )
            ).all()
        )
        self.__dict__["_with_events"] = with_events
        self.session = _Prefetched(self.session, keys, outbox)

    async def previous_activity(self: Any, batch: Any, conn: Any, graph: Any, key: str) -> Any:
        cache = batch.__dict__.get("_latest")
        if cache is None:
            return await previous(self, batch, conn, graph, key)
        for k in graph.ancestors(key):
            if graph.shape(k).activity_kind is None:
                continue
            return cache.get((conn.id, k))
        return None

    async def record_automatic(
        self: Any, batch: Any, conn: Any, step: Any, message_id: Any, *rest: Any
    ) -> None:
        await automatic(self, batch, conn, step, message_id, *rest)
        cache = batch.__dict__.get("_latest")
        if cache is not None:
            kind = batch.graphs[conn.version_id].shape(step.key).activity_kind
            cache[(conn.id, step.key)] = ActivityView(
                step_key=step.key,
                type=step.type,
                activity_kind=ActivityKind(kind) if kind else None,
                status=ActivityStatus(rest[0]) if rest else ActivityStatus.COMPLETED,
                outcome=None,
                message_id=message_id,
                closed_at=self.clock.now(),
            )

    async def create_activity(self: Any, batch: Any, conn: Any, step: Any, outcome: Any) -> Any:
        done = await create(self, batch, conn, step, outcome)
        cache = batch.__dict__.get("_latest")
        if cache is not None:
            kind = batch.graphs[conn.version_id].shape(step.key).activity_kind
            cache[(conn.id, step.key)] = ActivityView(
                step_key=step.key,
                type=step.type,
                activity_kind=ActivityKind(kind) if kind else None,
                status=ActivityStatus.OPEN,
                outcome=None,
                message_id=None,
                closed_at=None,
            )
        return done

    async def replay_events(self: Any, batch: Any, conn: Any, activity_step: str) -> None:
        known = batch.__dict__.get("_with_events")
        if known is not None and (conn.id, activity_step) not in known:
            return
        await replay(self, batch, conn, activity_step)

    Batch.load = batch_load  # type: ignore[method-assign]
    Runner.replay_events = replay_events  # type: ignore[method-assign]
    Runner.previous_activity = previous_activity  # type: ignore[method-assign]
    Runner.record_automatic_activity = record_automatic  # type: ignore[method-assign]
    Runner.create_activity = create_activity  # type: ignore[method-assign]


def patch_one_flush() -> None:
    """Writes wait for the end of the batch: one flush (executemany INSERTs and UPDATEs)."""
    from sekvens.engine.runner import Batch
    from sekvens.engine.worker import Engine

    load, process = Batch.load, Engine.process

    async def batch_load(self: Any, conns: Any) -> None:
        await load(self, conns)
        self.session.defer = True  # the _Prefetched session of the prefetch patch

    async def one_flush(self: Any, session: Any, conns: Any) -> None:
        made: list[Any] = []
        make = self.runner.batch

        def batch(session_: Any) -> Any:
            made.append(make(session_))
            return made[-1]

        self.runner.batch = batch
        try:
            await process(self, session, conns)
        finally:
            del self.runner.batch
        for b in made:
            await b.session.write_deferred()

    Batch.load = batch_load  # type: ignore[method-assign]
    Engine.process = one_flush  # type: ignore[method-assign]


def patch_prefetch_and_one_flush() -> None:
    patch_prefetch()
    patch_one_flush()


PATCHES = [patch_prefetch_and_one_flush]


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
