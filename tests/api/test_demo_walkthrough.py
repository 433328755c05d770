"""The newcomer's walk-through on the demo data: each seller starts with calls due, connect
demo leads, see the automated email, the activity for the right seller, and a condition that
follows an EMAIL_OPENED event."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sekvens.demo import load_demo
from tests.conftest import Api, MovableClock


async def test_demo_walkthrough(api: Api, engine: Any, clock: MovableClock) -> None:
    async with api.db.session(write=True) as session, session.begin():
        people = await load_demo(session, f"Demo {uuid.uuid4().hex[:6]}")
    tokens = {p.email: p.token for p in people}
    await engine.run_until_idle()
    for email in ("kari@demo.example", "ola@demo.example", "ingrid@demo.example"):
        morning = await api.as_token(tokens[email]).ok(
            "{ upNext(first: 20) { nodes { kind assignees { email } sequence { name } } } }"
        )
        assert (
            morning["upNext"]["nodes"]
            == [
                {
                    "kind": "CALL",
                    "assignees": [{"email": email}],
                    "sequence": {"name": "Demo: call new leads"},
                }
            ]
            * 4
        )
    manager = api.as_token(tokens["sequences@demo.example"])
    grid = await manager.ok(
        '{ sequences(search: "intro email") { nodes { id name status tags { path } } } }'
    )
    [seq] = grid["sequences"]["nodes"]
    assert seq["status"] == "ACTIVE" and seq["tags"] == [{"path": "Region/EMEA"}]
    leads = await manager.ok(
        '{ records(first: 3, filter: {recordType: "lead"}) { nodes { id externalId ownerUser { email } fields } } }'
    )
    nodes = leads["records"]["nodes"]
    connected = await manager.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": n["id"]} for n in nodes]},
        "connectedCount",
    )
    assert connected["connectedCount"] == 3
    await engine.run_until_idle()
    outbox = await manager.ok("{ outbox(first: 10) { nodes { to subject messageId } } }")
    sent = {m["to"]: m for m in outbox["outbox"]["nodes"]}
    first = nodes[0]
    assert (
        sent[first["fields"]["email"]]["subject"]
        == f"Quick question, {first['fields']['first_name']}"
    )

    clock.advance(timedelta(days=5))
    await engine.run_until_idle()
    opened = await manager.mutate(
        "recordEngagementEvents",
        {
            "events": [
                {
                    "eventId": f"open-{uuid.uuid4().hex}",
                    "kind": "EMAIL_OPENED",
                    "messageId": sent[first["fields"]["email"]]["messageId"],
                    "occurredAt": engine.clock.now().isoformat(),
                }
            ]
        },
        "results { recorded errors { code } }",
    )
    assert opened["results"] == [{"recorded": True, "errors": []}]
    await engine.run_until_idle()
    seller = api.as_token(tokens[first["ownerUser"]["email"]])
    up_next = await seller.ok(
        "{ upNext(first: 50) { nodes { kind record { externalId } sequence { name } } } }"
    )
    mine = [n for n in up_next["upNext"]["nodes"] if n["sequence"]["name"] == "Demo: intro email"]
    assert {
        "kind": "CALL",
        "record": {"externalId": first["externalId"]},
        "sequence": {"name": "Demo: intro email"},
    } in mine
