"""One measured import, in its own process so its peak memory is its own.

    python -m bench.import_child sekvens URL TOKEN DOCUMENT.json
    python -m bench.import_child baseline URL ROWS.json

`sekvens` sends `importSequences` (APPLY, the defaults otherwise) through the app
(in-process ASGI: one long request); `baseline` inserts the same sequence, version, step
and tag rows with plain batched INSERTs in one transaction. Both print one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, insert, update

from bench.common import current_rss_mb, max_rss_mb
from sekvens.config import Settings
from sekvens.storage.db import WRITE_OPTION, Database
from sekvens.storage.tables import Sequence, SequenceStep, SequenceTag, SequenceVersion

MUTATION = """mutation Import($input: ImportSequencesInput!) {
  importSequences(input: $input) {
    errors { code message field }
    report { applied sequences { action } }
  }
}"""


def _counter(db: Database) -> list[int]:
    count = [0]

    def record(*_: Any) -> None:
        count[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    return count


async def sekvens(url: str, token: str, document: str) -> dict[str, Any]:
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
        # The document travels as JSON text, as a migration tool would send it.
        body = json.dumps(
            {
                "query": MUTATION,
                "variables": {"input": {"document": document, "mode": "APPLY"}},
            }
        )
        started = time.perf_counter()
        response = await client.post(
            "/graphql",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        seconds = time.perf_counter() - started
    data = response.json()
    payload = (data.get("data") or {}).get("importSequences")
    if payload is None or payload["errors"] or not payload["report"]["applied"]:
        raise SystemExit(f"importSequences failed: {json.dumps(data)[:3000]}")
    await db.dispose()
    return {
        "seconds": seconds,
        "sequences": len(payload["report"]["sequences"]),
        "statements": statements[0],
        "rss_before_mb": rss_before,
        "max_rss_mb": max_rss_mb(),
    }


def _dates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        for k, v in row.items():
            if isinstance(v, str) and k.endswith("_at") and v:
                row[k] = datetime.fromisoformat(v)
    return rows


async def baseline(url: str, rows: dict[str, Any]) -> dict[str, Any]:
    sequences, versions = _dates(rows["sequences"]), _dates(rows["versions"])
    steps, tags = rows["steps"], rows["tags"]
    db = Database(Settings(database_url=url))
    rss_before = current_rss_mb()
    statements = _counter(db)
    started = time.perf_counter()
    async with db.engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        seq_ids = (
            await conn.scalars(
                insert(Sequence).returning(Sequence.id, sort_by_parameter_order=True),
                [{k: v for k, v in s.items() if k != "current_version_id"} for s in sequences],
            )
        ).all()
        version_ids = (
            await conn.scalars(
                insert(SequenceVersion).returning(SequenceVersion.id, sort_by_parameter_order=True),
                [{**v, "sequence_id": seq_ids[v["sequence_id"]]} for v in versions],
            )
        ).all()
        for start in range(0, len(steps), 5000):
            await conn.execute(
                insert(SequenceStep),
                [
                    {**s, "version_id": version_ids[s["version_id"]]}
                    for s in steps[start : start + 5000]
                ],
            )
        if tags:
            await conn.execute(
                insert(SequenceTag),
                [{"sequence_id": seq_ids[t["sequence_id"]], "tag_id": t["tag_id"]} for t in tags],
            )
        current = [
            {"b_id": seq_ids[i], "b_version": version_ids[s["current_version_id"]]}
            for i, s in enumerate(sequences)
            if s["current_version_id"] is not None
        ]
        if current:
            await conn.execute(
                update(Sequence)
                .where(Sequence.id == bindparam("b_id"))
                .values(current_version_id=bindparam("b_version")),
                current,
            )
    seconds = time.perf_counter() - started
    await db.dispose()
    return {
        "seconds": seconds,
        "sequences": len(sequences),
        "statements": statements[0],
        "rss_before_mb": rss_before,
        "max_rss_mb": max_rss_mb(),
    }


def main() -> None:
    kind, url = sys.argv[1], sys.argv[2]
    if kind == "sekvens":
        result = asyncio.run(sekvens(url, sys.argv[3], Path(sys.argv[4]).read_text()))
    else:
        result = asyncio.run(baseline(url, json.loads(Path(sys.argv[3]).read_text())))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
