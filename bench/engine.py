"""Engine: 100,000 connections made due at once, through a mix of steps, against the raw
batched UPDATE + INSERT of the same rows; on PostgreSQL also two worker processes.

The sequence: START, an automated email (`mail`), an email condition (`cond`: opened
within a day), YES: a task (`yes_task`); NO: a one-day wait (`nowait`) then a task
(`task2`). The due connections are spread over four places, in turn by id so any prefix
of the claim order is the same mix:

- at `mail` to execute: the email is rendered and stored in the outbox, kept as a
  completed activity, and the condition starts waiting (2 transitions);
- at `cond` with its deadline passed: it takes NO and the wait starts (2 transitions);
- at `nowait` with the wait over: the task after it creates an activity (2 transitions);
- at `yes_task` to execute: it creates an activity (1 transition).

A transition is a step whose outcome the engine wrote; the count comes from the database
(steps advanced plus connections run). Each run starts from a fresh copy of the same data.

Targets: transitions/s at least 0.2x the baseline's; on PostgreSQL two worker processes
at least 1.6x one."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bench import common, data
from sekvens.domain.sequence_graph import START_TYPE, Step
from sekvens.plugins.registry import Registry
from sekvens.storage.tables import Activity, Connection

SCENARIO = "engine"
TITLE = "Engine: due connections through a mix of steps"

EMAIL = {"subject": "Hello {{ first_name }}", "body": "Hi {{ first_name }},\n"}
STEPS = [
    Step("start", START_TYPE, "Start"),
    Step("mail", "email.auto", "Intro email", "", {"template": EMAIL}, "start", "NEXT"),
    Step(
        "cond", "email.condition", "Opened?", "", {"events": ["OPENED"], "days": 1}, "mail", "NEXT"
    ),
    Step("yes_task", "core.task", "Call back", "", {"subject": "Call back"}, "cond", "YES"),
    Step("nowait", "core.wait", "Wait a day", "", {"days": 1}, "cond", "NO"),
    Step("task2", "core.task", "Follow up", "", {"subject": "Follow up"}, "nowait", "NEXT"),
]
#: (current step, phase, steps done so far) of each group.
GROUPS = [
    ("mail", "EXECUTE", 1),
    ("cond", "EVENTS", 2),
    ("nowait", "WAIT", 3),
    ("yes_task", "EXECUTE", 3),
]
DUE = ("EXECUTE", "WAIT", "EVENTS")


async def setup(opts: common.Options, n: int) -> tuple[str, int]:
    url = await common.create_database(opts, SCENARIO)
    db = data.open_db(url)
    try:
        rng = random.Random(common.SEED)
        org = await data.organization(db)
        registry = Registry.from_entry_points()
        seq_id = await data.sequence(db, registry, org, "Engine mix", list(STEPS))
        await data.records(db, org, rng, n)
        records = await data.record_ids(db, org)
        now = datetime.now(UTC)

        def place(i: int, _: int) -> dict[str, Any]:
            key, phase, done = GROUPS[i % len(GROUPS)]
            return {
                "current_step_key": key,
                "phase": phase,
                "steps_done": done,
                "step_entered_at": now - timedelta(days=1),
                "next_run_at": now - timedelta(minutes=1),
            }

        await data.connect_directly(db, org, seq_id, records, place)
        # Past the email, each connection has its completed email activity (conditions and
        # later steps look it up).
        async with db.session(write=True) as session, session.begin():
            rows = (
                await session.execute(
                    select(Connection.id, Connection.record_id).where(
                        Connection.current_step_key != "mail"
                    )
                )
            ).all()
            sent = now - timedelta(days=1)
            for start in range(0, len(rows), 5000):
                await session.execute(
                    insert(Activity),
                    [
                        {
                            "organization_id": org.org_id,
                            "connection_id": c.id,
                            "sequence_id": seq_id,
                            "record_id": c.record_id,
                            "step_key": "mail",
                            "step_type": "email.auto",
                            "activity_kind": "EMAIL",
                            "subject": "Intro email",
                            "status": "COMPLETED",
                            "proposed_due_at": sent,
                            "due_at": sent,
                            "closed_at": sent,
                            "message_id": f"<seed{c.id}@sekvens.local>",
                            "idempotency_key": f"{c.id}:mail",
                            "created_at": sent,
                        }
                        for c in rows[start : start + 5000]
                    ],
                )
    finally:
        await db.dispose()
    await common.vacuum(url)
    return url, seq_id


async def state(url: str) -> dict[str, int]:
    db = data.open_db(url)
    try:
        async with db.session() as session:
            now = datetime.now(UTC)
            due = await session.scalar(
                select(func.count())
                .select_from(Connection)
                .where(
                    Connection.status == "CONNECTED",
                    Connection.phase.in_(DUE),
                    Connection.next_run_at <= now,
                )
            )
            done = await session.scalar(select(func.coalesce(func.sum(Connection.steps_done), 0)))
            errors = await session.scalar(
                select(func.count()).select_from(Connection).where(Connection.status == "ERROR")
            )
            activities = await session.scalar(select(func.count()).select_from(Activity))
        return {
            "due": int(due or 0),
            "steps_done": int(done or 0),
            "errors": int(errors or 0),
            "activities": int(activities or 0),
        }
    finally:
        await db.dispose()


def run_workers(kind: str, url: str, workers: int, amount: float) -> dict[str, Any]:
    """Start `workers` processes, release them together, wait; wall time across them."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.engine_worker", kind, url, str(amount)],
            cwd=common.ROOT,
            env=common.child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        if line.strip() != "ready":
            p.wait()
            raise RuntimeError(f"engine worker did not start: {line!r}")
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    # Drain every worker's output at once, so that none blocks on a full pipe.
    with ThreadPoolExecutor(len(procs)) as pool:
        outputs = list(pool.map(lambda p: p.communicate()[0], procs))
    results = []
    for p, out in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"engine worker failed ({p.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["ended_at"] for r in results) - min(r["started_at"] for r in results)
    return {
        "workers": results,
        "seconds": wall,
        "statements": sum(r["statements"] for r in results),
        "max_rss_mb": max(r["max_rss_mb"] for r in results),
        # How busy each worker kept its core: CPU seconds over wall seconds.
        "cpu_share": sum(r["cpu_seconds"] / r["seconds"] for r in results) / len(results),
        "budget_hit": any(r.get("budget_hit") for r in results),
    }


def measure(
    opts: common.Options, source: str, name: str, kind: str, workers: int, amount: float
) -> dict[str, Any]:
    url = asyncio.run(common.clone_database(opts, source, name))
    try:
        before = asyncio.run(state(url))
        common.log(f"engine {name}: {before['due']} due; running {workers} {kind} worker(s)")
        run = run_workers(kind, url, workers, amount)
        after = asyncio.run(state(url))
    finally:
        asyncio.run(common.drop_database(opts, url))
    if after["errors"]:
        raise RuntimeError(f"engine {name}: {after['errors']} connections in ERROR")
    processed = before["due"] - after["due"]
    transitions = after["steps_done"] - before["steps_done"] + processed
    run.update(
        processed=processed,
        transitions=transitions,
        activities_written=after["activities"] - before["activities"],
        rate=transitions / run["seconds"],
    )
    common.log(
        f"engine {name}: {processed} connections, {transitions} transitions in "
        f"{run['seconds']:.1f} s = {run['rate']:.0f}/s"
    )
    return run


def main() -> None:
    opts = common.options(__doc__.splitlines()[0])
    n = opts.size(100_000, 200)
    rounds = 1 if opts.smoke else 2
    budget = 20.0 if opts.smoke else 55.0
    common.log(f"{SCENARIO} on {opts.backend}: setting up {n} due connections")
    started = time.perf_counter()
    source, _ = asyncio.run(setup(opts, n))
    common.log(f"set up in {time.perf_counter() - started:.0f} s")
    runs: dict[str, dict[str, Any]] = {}
    try:
        # One and two workers in alternating rounds (noise on a shared machine hits both).
        for r in range(1, rounds + 1):
            runs[f"sekvens, 1 worker, round {r}"] = measure(
                opts, source, f"one{r}", "sekvens", 1, budget
            )
            if opts.backend == "postgres":
                runs[f"sekvens, 2 workers, round {r}"] = measure(
                    opts, source, f"two{r}", "sekvens", 2, budget
                )
        first = runs["sekvens, 1 worker, round 1"]
        runs["baseline"] = measure(opts, source, "base", "baseline", 1, first["processed"])
    finally:
        asyncio.run(common.drop_database(opts, source))
        common.cleanup(opts)
    base = runs["baseline"]
    rows = []
    for name, r in runs.items():
        rows.append(
            {
                "run": name,
                "connections": r["processed"],
                "transitions": r["transitions"],
                "seconds": round(r["seconds"], 2),
                "transitions/s": round(r["rate"]),
                "ratio vs baseline": round(r["rate"] / base["rate"], 3),
                "statements/connection": round(r["statements"] / max(r["processed"], 1), 2),
                "worker CPU % of wall": round(100 * r["cpu_share"]),
                "peak RSS MB/worker": r["max_rss_mb"],
            }
        )
    one = common.median([r["rate"] for k, r in runs.items() if "1 worker" in k])
    two = common.median([r["rate"] for k, r in runs.items() if "2 workers" in k])
    targets = [
        common.ratio_target("engine: transitions/s vs raw UPDATE+INSERT", one / base["rate"], 0.2)
    ]
    if two:
        targets.append(common.ratio_target("engine: 2 worker processes vs 1", two / one, 1.6))
    notes = [
        f"{n:,} connections due at once; batch size 200 (the engine's default) for both. "
        f"Each run stops after {budget:.0f} s (or when nothing is due) and starts from a "
        "fresh copy of the data, so every run has all of them due; the rates are over the "
        "connections each run advanced. The targets use the median of the rounds.",
        "Worker CPU % of wall: how busy each worker process kept a core (its CPU time over "
        "the run's wall time, averaged over the workers); well under 100 means it waited on "
        "the database or for a core.",
        "The baseline advances exactly the connections of the first one-worker run, in the "
        "same claim order, writing the same rows (connection state, completed email "
        "activities, outbox messages, open task activities with their assignee).",
    ]
    common.write_result(
        opts,
        SCENARIO,
        TITLE,
        {"due connections": n, "batch": 200, "seconds per run": budget, "rounds": rounds},
        [{"title": "Step transitions per second", "rows": rows}],
        targets,
        notes,
    )


if __name__ == "__main__":
    main()
