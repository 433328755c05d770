"""One engine run in its own process: sekvens' worker, or the raw baseline.

    python -m bench.engine_worker sekvens URL MAX_SECONDS [BATCH]
    python -m bench.engine_worker baseline URL LIMIT [BATCH]

Both print `ready` once started (imports done, a database connection open), wait for a
line on stdin, run, and print one JSON line. `sekvens` runs `Engine.run_batch` until
nothing is due or MAX_SECONDS have passed. `baseline` advances the first LIMIT due
connections (the ones sekvens ran, in the same claim order) by writing the same rows
directly: per batch one claim SELECT (FOR UPDATE SKIP LOCKED on PostgreSQL), one SELECT of
the batch's records, then executemany UPDATE of the connections and INSERTs of the
activities, assignees and outbox messages, one transaction per batch, as the engine does.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, event, insert, or_, select, update

from bench.common import max_rss_mb
from sekvens.config import Settings
from sekvens.storage.db import WRITE_OPTION, Database
from sekvens.storage.tables import Activity, ActivityAssignee, Connection, OutboxMessage, Record
from sekvens.storage.tables import User as UserRow

DUE_PHASES = ("EXECUTE", "WAIT", "EVENTS")
C = Connection.__table__
ONE_DAY = timedelta(days=1)


def _counter(db: Database) -> list[int]:
    count = [0]

    def record(*_: Any) -> None:
        count[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return count


async def _ready(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def run_sekvens(url: str, max_seconds: float, batch: int) -> dict[str, Any]:
    from sekvens.engine.worker import Engine
    from sekvens.plugins.registry import Registry

    db = Database(Settings(database_url=url))
    engine = Engine(db, Registry.from_entry_points(), batch_size=batch)
    await _ready(db)
    statements = _counter(db)
    started_at, started, cpu = time.time(), time.perf_counter(), time.process_time()
    processed = batches = 0
    while time.perf_counter() - started < max_seconds:
        n = await engine.run_batch()
        if n == 0:
            break
        processed += n
        batches += 1
    seconds = time.perf_counter() - started
    await db.dispose()
    return {
        "processed": processed,
        "batches": batches,
        "seconds": seconds,
        "started_at": started_at,
        "ended_at": started_at + seconds,
        "statements": statements[0],
        "max_rss_mb": max_rss_mb(),
        "cpu_seconds": time.process_time() - cpu,
        "budget_hit": seconds >= max_seconds,
    }


def _claim(now: datetime, batch: int, postgres: bool) -> Any:
    stmt = (
        select(C.c.id, C.c.record_id, C.c.current_step_key, C.c.phase, C.c.steps_done)
        .where(
            or_(
                and_(C.c.status == "CONNECTED", C.c.phase.in_(DUE_PHASES), C.c.next_run_at <= now),
                and_(C.c.status == "PAUSED", C.c.resume_at <= now),
            )
        )
        .order_by(C.c.next_run_at, C.c.id)
        .limit(batch)
    )
    return stmt.with_for_update(skip_locked=True) if postgres else stmt


UPDATE = (
    update(C)
    .where(C.c.id == bindparam("b_id"))
    .values(
        current_step_key=bindparam("b_key"),
        phase=bindparam("b_phase"),
        steps_done=bindparam("b_done"),
        step_state=bindparam("b_state"),
        step_entered_at=bindparam("b_entered"),
        next_run_at=bindparam("b_next"),
        updated_at=bindparam("b_updated"),
    )
)


def _moved(conn: Any, key: str, phase: str, now: datetime, next_run: datetime | None) -> dict:
    """The connection's new state, as the UPDATE's parameters."""
    return {
        "b_id": conn.id,
        "b_key": key,
        "b_phase": phase,
        "b_done": conn.steps_done + (key != conn.current_step_key),
        "b_state": {},
        "b_entered": now,
        "b_next": next_run,
        "b_updated": now,
    }


def _activity(conn: Any, org: int, seq: int, key: str, now: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "organization_id": org,
        "connection_id": conn.id,
        "sequence_id": seq,
        "record_id": conn.record_id,
        "step_key": key,
        "step_type": kw.pop("step_type", "core.task"),
        "activity_kind": kw.pop("activity_kind", "TASK"),
        "subject": kw.pop("subject", "Follow up"),
        "instructions": "",
        "data": {},
        "status": kw.pop("status", "OPEN"),
        "notes": "",
        "proposed_due_at": now,
        "due_at": now,
        "closed_at": kw.pop("closed_at", None),
        "message_id": kw.pop("message_id", None),
        "idempotency_key": f"{conn.id}:{key}",
        "created_at": now,
        "updated_at": now,
    }


async def run_baseline(url: str, limit: int, batch: int) -> dict[str, Any]:
    db = Database(Settings(database_url=url))
    postgres = db.engine.dialect.name == "postgresql"
    async with db.session() as session:
        first = await session.scalar(select(Connection).limit(1))
        assert first is not None
        org, seq = first.organization_id, first.sequence_id
        emails = dict((await session.execute(select(UserRow.id, UserRow.email))).all())
    writer = db.engine.execution_options(**{WRITE_OPTION: True})
    await _ready(db)
    statements = _counter(db)
    started_at, started, cpu = time.time(), time.perf_counter(), time.process_time()
    processed = 0
    while processed < limit:
        async with writer.begin() as tx:
            now = datetime.now(UTC)
            rows = (await tx.execute(_claim(now, min(batch, limit - processed), postgres))).all()
            if not rows:
                break
            records = {
                r.id: r
                for r in await tx.execute(
                    select(Record.id, Record.fields, Record.owner_user_id).where(
                        Record.id.in_([r.record_id for r in rows])
                    )
                )
            }
            updates, outbox, done, open_, owners = [], [], [], [], []
            for conn in rows:
                rec = records[conn.record_id]

                key, phase = conn.current_step_key, conn.phase
                if key == "mail" and phase == "EXECUTE":
                    first_name = rec.fields["first_name"]
                    message_id = f"<{uuid.uuid4().hex}@sekvens.local>"
                    outbox.append(
                        {
                            "organization_id": org,
                            "connection_id": conn.id,
                            "idempotency_key": f"{conn.id}:mail",
                            "message_id": message_id,
                            "to_address": rec.fields["email"],
                            "from_address": emails.get(rec.owner_user_id),
                            "subject": f"Hello {first_name}",
                            "text": f"Hi {first_name},\n",
                            "html": None,
                            "headers": {},
                            "status": "STORED",
                            "attempts": 0,
                            "next_attempt_at": None,
                            "created_at": now,
                        }
                    )
                    done.append(
                        _activity(
                            conn,
                            org,
                            seq,
                            "mail",
                            now,
                            step_type="email.auto",
                            activity_kind="EMAIL",
                            subject="Intro email",
                            status="COMPLETED",
                            closed_at=now,
                            message_id=message_id,
                        )
                    )
                    updates.append(_moved(conn, "cond", "EVENTS", now, now + ONE_DAY))
                elif key == "cond" and phase == "EVENTS":
                    updates.append(_moved(conn, "nowait", "WAIT", now, now + ONE_DAY))
                elif key == "nowait" and phase == "WAIT":
                    open_.append(_activity(conn, org, seq, "task2", now))
                    owners.append(rec.owner_user_id)
                    updates.append(_moved(conn, "task2", "ACTIVITY", now, None))
                elif key == "yes_task" and phase == "EXECUTE":
                    open_.append(_activity(conn, org, seq, "yes_task", now, subject="Call back"))
                    owners.append(rec.owner_user_id)
                    updates.append(_moved(conn, "yes_task", "ACTIVITY", now, None))
                else:
                    raise RuntimeError(f"unexpected connection state {key} {phase}")
            await tx.execute(UPDATE, updates)
            if outbox:
                await tx.execute(insert(OutboxMessage), outbox)
            if done:
                await tx.execute(insert(Activity), done)
            if open_:
                ids = (
                    await tx.scalars(
                        insert(Activity).returning(Activity.id, sort_by_parameter_order=True),
                        open_,
                    )
                ).all()
                await tx.execute(
                    insert(ActivityAssignee),
                    [{"activity_id": a, "user_id": u} for a, u in zip(ids, owners, strict=True)],
                )
            processed += len(rows)
    seconds = time.perf_counter() - started
    await db.dispose()
    return {
        "processed": processed,
        "seconds": seconds,
        "started_at": started_at,
        "ended_at": started_at + seconds,
        "statements": statements[0],
        "max_rss_mb": max_rss_mb(),
        "cpu_seconds": time.process_time() - cpu,
    }


def main() -> None:
    kind, url, amount = sys.argv[1], sys.argv[2], float(sys.argv[3])
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    runners: dict[str, Callable[[], Any]] = {
        "sekvens": lambda: run_sekvens(url, amount, batch),
        "baseline": lambda: run_baseline(url, int(amount), batch),
    }
    print(json.dumps(asyncio.run(runners[kind]())), flush=True)


if __name__ == "__main__":
    main()
