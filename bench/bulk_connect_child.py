"""One measured bulk connect, in its own process so its peak memory is its own.

    python -m bench.bulk_connect_child sekvens URL SEQUENCE_ID TOKEN
    python -m bench.bulk_connect_child baseline URL SEQUENCE_ID

`sekvens` sends `connectSequenceByFilter` through the app (in-process ASGI: one long
request, so a socket would add nothing); `baseline` reads the ids of the same records in
keyset batches of 1,000 and inserts the same connection rows with plain batched INSERTs
in one transaction. Both print one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select

from bench.common import current_rss_mb, max_rss_mb
from sekvens.config import Settings
from sekvens.schema.relay import to_global_id
from sekvens.storage.db import WRITE_OPTION, Database
from sekvens.storage.tables import Connection, Record, RecordType, Sequence, SequenceStep

CHUNK = 1000

MUTATION = """mutation Connect($input: ConnectSequenceByFilterInput!) {
  connectSequenceByFilter(input: $input) {
    matchedCount connectedCount skipped { code count } errors { code message }
  }
}"""


def _counter(db: Database) -> list[int]:
    count = [0]

    def record(*_: Any) -> None:
        count[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return count


async def sekvens(url: str, sequence_id: int, token: str) -> dict[str, Any]:
    import httpx

    from sekvens.app import create_app

    db = Database(Settings.from_env(database_url=url))
    app = create_app(db.settings, db)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=None
    ) as client:
        warm = await client.post(
            "/graphql", json={"query": "{ viewer { roles } }"}, headers=headers
        )
        assert warm.status_code == 200, warm.text
        rss_before = current_rss_mb()
        statements = _counter(db)
        variables = {
            "input": {
                "sequenceId": to_global_id("Sequence", sequence_id),
                "filter": {"recordType": "lead"},
            }
        }
        started = time.perf_counter()
        response = await client.post(
            "/graphql", json={"query": MUTATION, "variables": variables}, headers=headers
        )
        seconds = time.perf_counter() - started
    body = response.json()
    payload = body.get("data", {}).get("connectSequenceByFilter") if body.get("data") else None
    if payload is None or payload["errors"]:
        raise SystemExit(f"connectSequenceByFilter failed: {body}")
    await db.dispose()
    return {
        "seconds": seconds,
        "connected": payload["connectedCount"],
        "matched": payload["matchedCount"],
        "skipped": payload["skipped"],
        "statements": statements[0],
        "rss_before_mb": rss_before,
        "max_rss_mb": max_rss_mb(),
    }


async def baseline(url: str, sequence_id: int) -> dict[str, Any]:
    db = Database(Settings(database_url=url))
    async with db.session() as session:
        seq = await session.get(Sequence, sequence_id)
        assert seq is not None and seq.current_version_id is not None
        start_key = await session.scalar(
            select(SequenceStep.key).where(
                SequenceStep.version_id == seq.current_version_id,
                SequenceStep.parent_key.is_(None),
            )
        )
        org_id, version_id = seq.organization_id, seq.current_version_id
        type_id = await session.scalar(
            select(RecordType.id).where(
                RecordType.organization_id == org_id, RecordType.name == "lead"
            )
        )
        user_id = seq.owner_user_id
    rss_before = current_rss_mb()
    statements = _counter(db)
    started = time.perf_counter()
    inserted = 0
    async with db.engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        last = 0
        while True:
            ids = (
                await conn.scalars(
                    select(Record.id)
                    .where(
                        Record.organization_id == org_id,
                        Record.record_type_id == type_id,
                        Record.id > last,
                    )
                    .order_by(Record.id)
                    .limit(CHUNK)
                )
            ).all()
            if not ids:
                break
            last = ids[-1]
            now = datetime.now(UTC)
            await conn.execute(
                insert(Connection),
                [
                    {
                        "organization_id": org_id,
                        "sequence_id": sequence_id,
                        "version_id": version_id,
                        "record_id": record_id,
                        "status": "CONNECTED",
                        "phase": "EXECUTE",
                        "step_state": {},
                        "current_step_key": start_key,
                        "steps_done": 0,
                        "step_entered_at": now,
                        "next_run_at": now,
                        "connected_by_id": user_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for record_id in ids
                ],
            )
            inserted += len(ids)
    seconds = time.perf_counter() - started
    await db.dispose()
    return {
        "seconds": seconds,
        "connected": inserted,
        "matched": inserted,
        "statements": statements[0],
        "rss_before_mb": rss_before,
        "max_rss_mb": max_rss_mb(),
    }


def main() -> None:
    kind, url, sequence_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if kind == "sekvens":
        result = asyncio.run(sekvens(url, sequence_id, sys.argv[4]))
    else:
        result = asyncio.run(baseline(url, sequence_id))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
