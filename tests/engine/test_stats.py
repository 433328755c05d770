"""`sequence.stats`: live counts of connections, activities and email engagement per step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.sequences_helpers import create
from tests.api.test_engine import connect, connections, leads, opened_condition_sequence, seller
from tests.api.test_query_counts import count_statements
from tests.conftest import Api, MovableClock

STATS = """query($id: ID!) { sequence(id: $id) { stats {
  connected running paused completed disconnected inError
  byReason { reason count }
  steps { stepKey step { type } current open completed skipped
          delivered opened replied clicked bounced }
} } }"""


async def stats(api: Api, seq: dict[str, Any]) -> dict[str, Any]:
    return (await api.ok(STATS, {"id": seq["id"]}))["sequence"]["stats"]


def by_type(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each step's numbers by its step type (one step per type in these sequences)."""
    out = {}
    for step in s["steps"]:
        numbers = {k: v for k, v in step.items() if k not in ("stepKey", "step") and v}
        out[step["step"]["type"]] = numbers
    return out


async def events(api: Api, *items: tuple[str, str, str], at: Any) -> None:
    payload = await api.mutate(
        "recordEngagementEvents",
        {
            "events": [
                {
                    "eventId": eid,
                    "kind": kind,
                    "messageId": message,
                    "occurredAt": at,
                    # a soft bounce: counted, and the connection runs on
                    **({"bounceType": "SOFT"} if kind == "EMAIL_BOUNCED" else {}),
                }
                for eid, kind, message in items
            ]
        },
        "results { recorded errors { code } }",
    )
    assert all(r["recorded"] for r in payload["results"]), payload


async def test_stats_follow_connections_activities_and_events(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    await api.mutate(
        "updateOrganizationSettings", {"skipNonWorkingTime": False}, "organization { id }"
    )
    owner_id, owner_token = await seller(api, "stats@example.com")
    seq = await opened_condition_sequence(api, exitOnReply=True, skipNonWorkingTime=False)
    empty = await stats(api, seq)
    assert empty == {
        "connected": 0,
        "running": 0,
        "paused": 0,
        "completed": 0,
        "disconnected": 0,
        "inError": 0,
        "byReason": [],
        "steps": empty["steps"],
    }
    assert [s["step"]["type"] for s in empty["steps"]] == [
        "email.auto",
        "core.wait",
        "email.condition",
        "call.phone",
        "core.task",
    ]
    assert all(numbers == {} for numbers in by_type(empty).values())

    records = await leads(api, owner_id, 4, prefix="S")
    results = await connect(api, seq, records)
    await engine.run_until_idle()
    s = await stats(api, seq)
    assert (s["connected"], s["running"]) == (4, 4)
    assert by_type(s)["email.auto"] == {"completed": 4}
    assert by_type(s)["core.wait"] == {"current": 4}

    outbox = await api.ok("{ outbox(first: 100) { nodes { to messageId } } }")
    message = {m["to"]: m["messageId"] for m in outbox["outbox"]["nodes"]}
    now = engine.clock.now().isoformat()
    await events(
        api,
        ("d0", "EMAIL_DELIVERED", message["ann0@example.com"]),
        ("o0", "EMAIL_OPENED", message["ann0@example.com"]),
        ("o0b", "EMAIL_OPENED", message["ann0@example.com"]),  # twice: one email opened
        ("c0", "LINK_CLICKED", message["ann0@example.com"]),
        ("d1", "EMAIL_DELIVERED", message["ann1@example.com"]),
        ("r1", "EMAIL_REPLIED", message["ann1@example.com"]),  # exits: exitOnReply
        ("b3", "EMAIL_BOUNCED", message["ann3@example.com"]),
        at=now,
    )
    await api.mutate(
        "disconnectSequence",
        {"connectionId": results[2]["connection"]["id"]},
        "connection { status }",
    )
    await api.mutate(
        "pauseConnection", {"connectionId": results[3]["connection"]["id"]}, "connection { id }"
    )
    clock.advance(timedelta(days=1, minutes=1))
    await engine.run_until_idle()

    s = await stats(api, seq)
    assert {k: s[k] for k in ("connected", "running", "paused", "completed", "disconnected")} == {
        "connected": 4,
        "running": 1,  # S0: opened, at the call
        "paused": 1,  # S3
        "completed": 0,
        "disconnected": 2,  # S1 replied, S2 by hand
    }
    assert s["byReason"] == [
        {"reason": "EXIT_CRITERION_MET", "count": 1},
        {"reason": "USER_DISCONNECTED", "count": 1},
    ]
    steps = by_type(s)
    assert steps["email.auto"] == {
        "completed": 4,
        "delivered": 2,
        "opened": 1,
        "replied": 1,
        "clicked": 1,
        "bounced": 1,
    }
    assert steps["core.wait"] == {"current": 1}  # S3, paused there
    assert steps["call.phone"] == {"current": 1, "open": 1}
    assert steps["email.condition"] == steps["core.task"] == {}

    up_next = await api.as_token(owner_token).ok("{ upNext { nodes { id kind } } }")
    [call] = [n for n in up_next["upNext"]["nodes"] if n["kind"] == "CALL"]
    await api.as_token(owner_token).mutate(
        "completeActivity",
        {"activityId": call["id"], "outcome": "Connected"},
        "activity { status }",
    )
    await engine.run_until_idle()
    s = await stats(api, seq)
    assert (s["running"], s["completed"]) == (0, 1)
    assert {"reason": "SEQUENCE_COMPLETED", "count": 1} in s["byReason"]
    assert by_type(s)["call.phone"] == {"completed": 1}
    assert (await connections(api, seq))["S0"]["status"] == "COMPLETED"


GRID_STATS = """{ sequences(first: 100) { nodes { id stats {
  connected running byReason { reason count } steps { stepKey current open } } } } }"""


async def test_stats_of_a_page_of_sequences_cost_a_fixed_number_of_statements(
    api: Api, engine: Any
) -> None:
    owner_id, _ = await seller(api, "grid@example.com")
    first = await opened_condition_sequence(api)
    await connect(api, first, await leads(api, owner_id, 2, prefix="G"))
    await create(api, "Draft")
    await engine.run_until_idle()
    with count_statements(api) as one:
        await api.ok(GRID_STATS)
    for i in range(3):
        seq = await opened_condition_sequence(api)
        await connect(api, seq, await leads(api, owner_id, 2, prefix=f"G{i}x"))
        await create(api, f"Draft {i}")
    await engine.run_until_idle()
    with count_statements(api) as many:
        data = await api.ok(GRID_STATS)
    assert len(many) == len(one), "\n\n".join(s[:150] for s in many)
    nodes = data["sequences"]["nodes"]
    assert len(nodes) == 8
    assert sorted(n["stats"]["connected"] for n in nodes) == [0, 0, 0, 0, 2, 2, 2, 2]
