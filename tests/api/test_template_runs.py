"""Each built-in template, from connect to completion, along the YES and the NO branches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api.test_engine import seller
from tests.conftest import Api, MovableClock

TEMPLATES = "{ sequenceTemplates { id name recordType isBuiltin } }"
STATE = """query($id: ID!) { sequence(id: $id) { connections(first: 10) { nodes {
  status reason record { externalId } activities { id kind status messageId stepKey stepType }
} } } }"""
ENGAGED = ["EMAIL_OPENED", "EMAIL_REPLIED", "LINK_CLICKED", "ATTACHMENT_DOWNLOADED"]


async def _templates(api: Api) -> list[dict[str, Any]]:
    return [t for t in (await api.ok(TEMPLATES))["sequenceTemplates"] if t["isBuiltin"]]


@pytest.mark.parametrize("index", range(6))
async def test_builtin_template_runs_both_ways(
    api: Api, engine: Any, clock: MovableClock, index: int
) -> None:
    await api.mutate(
        "updateOrganizationSettings", {"skipNonWorkingTime": False}, "organization { id }"
    )
    template = (await _templates(api))[index]
    owner_id, token = await seller(api, "runner@example.com")
    created = await api.mutate(
        "createSequence",
        {"name": template["name"], "templateId": template["id"]},
        "sequence { id }",
    )
    seq_id = created["sequence"]["id"]
    activated = await api.mutate("activateSequence", {"sequenceId": seq_id}, "sequence { status }")
    assert activated["errors"] == [], activated["errors"]
    records = [
        {
            "recordType": template["recordType"],
            "externalId": key,
            "ownerUserId": owner_id,
            "fields": {
                "first_name": key,
                "email": f"{key.lower()}@example.com",
                "phone": "+47 22 00 00 00",
                "linkedin_url": "https://linkedin.example/in/x",
            },
        }
        for key in ("YES", "NO")
    ]
    upsert = await api.mutate(
        "upsertRecords", {"records": records}, "results { errors { code field } }"
    )
    assert all(r["errors"] == [] for r in upsert["results"]), upsert
    connected = await api.mutate(
        "connectSequence",
        {
            "sequenceId": seq_id,
            "records": [
                {"recordType": template["recordType"], "externalId": k} for k in ("YES", "NO")
            ],
        },
        "connectedCount",
    )
    assert connected["connectedCount"] == 2
    evented: set[str] = set()
    visited: dict[str, list[str]] = {"YES": [], "NO": []}
    seller_api = api.as_token(token)
    for _ in range(120):
        await engine.run_until_idle()
        state = (await api.ok(STATE, {"id": seq_id}))["sequence"]["connections"]["nodes"]
        if all(c["status"] != "CONNECTED" for c in state):
            break
        for conn in state:
            who = conn["record"]["externalId"]
            for act in conn["activities"]:
                if act["stepKey"] not in visited[who]:
                    visited[who].append(act["stepKey"])
                if act["status"] == "OPEN":
                    outcome = (
                        ("Connected" if who == "YES" else "No answer")
                        if act["kind"] == "CALL"
                        else None
                    )
                    done = await seller_api.mutate(
                        "completeActivity",
                        {"activityId": act["id"], "outcome": outcome},
                        "activity { status }",
                    )
                    assert done["errors"] == [], done["errors"]
                if act["kind"] == "EMAIL" and who == "YES" and act["id"] not in evented:
                    evented.add(act["id"])
                    now = engine.clock.now().isoformat()
                    await api.mutate(
                        "recordEngagementEvents",
                        {
                            "events": [
                                {
                                    "eventId": f"{act['id']}:{k}",
                                    "kind": k,
                                    "activityId": act["id"],
                                    "occurredAt": now,
                                }
                                for k in ENGAGED
                            ]
                        },
                        "results { recorded }",
                    )
        await engine.run_until_idle()
        clock.advance(timedelta(hours=12))
    final = {
        c["record"]["externalId"]: c
        for c in (await api.ok(STATE, {"id": seq_id}))["sequence"]["connections"]["nodes"]
    }
    for who in ("YES", "NO"):
        assert (final[who]["status"], final[who]["reason"]) == (
            "COMPLETED",
            "SEQUENCE_COMPLETED",
        ), final[who]
    assert visited["YES"] != visited["NO"], "the two records should take different branches"
