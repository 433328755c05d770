"""The worker's batches: a bounded number of statements per connection, and a connection
that raises fails alone (the batch is run again with a savepoint per connection)."""

from __future__ import annotations

from typing import Any

import pytest

from sekvens.engine.runner import Runner
from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_engine import AUTO, connect, connections, leads, seller
from tests.api.test_engine_flows import activate
from tests.api.test_query_counts import count_statements
from tests.conftest import Api

#: Statements per connection a batch may send beyond its fixed cost (claim, loads, commit)
#: when each connection sends an email and gets a task: none. The connections' UPDATEs and
#: the assignees go out as one executemany each, the new activities and outbox messages as
#: one multi-row INSERT each (on SQLite too: the idempotency key is their insert sentinel),
#: and nothing is read per connection.
PER_CONNECTION = 0


async def _sequence(api: Api, name: str) -> dict[str, Any]:
    """auto email -> task."""
    seq = await create(api, name)
    email = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
    await add(api, seq, email["id"], "core.task", {"subject": "Task"})
    await activate(api, seq)
    return seq


async def _run(api: Api, engine: Any, n: int, prefix: str) -> int:
    owner_id, _ = await seller(api, f"{prefix.lower()}@example.com")
    seq = await _sequence(api, prefix)
    await connect(api, seq, await leads(api, owner_id, n, prefix))
    with count_statements(api) as statements:
        await engine.run_until_idle()
    state = await connections(api, seq)
    assert all(c["status"] == "CONNECTED" for c in state.values()), state
    return len(statements)


async def test_statements_per_connection_in_a_batch_are_bounded(api: Api, engine: Any) -> None:
    few = await _run(api, engine, 4, "F")
    many = await _run(api, engine, 24, "M")
    assert (many - few) / 20 <= PER_CONNECTION, (few, many)


async def test_a_connection_that_raises_fails_alone(
    api: Api, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_activity = Runner.create_activity

    async def broken(self: Runner, batch: Any, conn: Any, *args: Any) -> bool:
        if batch.records[conn.record_id].external_id == "B2":
            raise RuntimeError("boom")  # after B2's email: that is rolled back too
        return await create_activity(self, batch, conn, *args)

    monkeypatch.setattr(Runner, "create_activity", broken)
    owner_id, _ = await seller(api, "b@example.com")
    seq = await _sequence(api, "Broken")
    await connect(api, seq, await leads(api, owner_id, 5, "B"))
    await engine.run_until_idle()
    state = await connections(api, seq)
    failed = state["B2"]
    assert failed["status"] == "ERROR" and "Internal error" in failed["error"]
    assert failed["activities"] == []
    for key in ("B0", "B1", "B3", "B4"):
        c = state[key]
        assert (
            c["status"] == "CONNECTED" and c["currentStepKey"] == state["B0"]["currentStepKey"]
        ), c
        assert sorted((a["kind"], a["status"]) for a in c["activities"]) == [
            ("EMAIL", "COMPLETED"),
            ("TASK", "OPEN"),
        ]
    outbox = await api.ok("{ outbox { nodes { to } } }")
    sent = sorted(m["to"] for m in outbox["outbox"]["nodes"])
    assert sent == [f"ann{i}@example.com" for i in (0, 1, 3, 4)]
