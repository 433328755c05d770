"""The runtime engine through GraphQL, with a moved clock instead of sleeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api, MovableClock

AUTO = {"template": {"subject": "Hi {{ first_name }}", "body": "Hello {{ first_name }}!"}}
CONNECTION = "id status reason stepsDone currentStepKey error record { externalId } activities { subject status kind }"


async def seller(api: Api, email: str) -> tuple[str, str]:
    """A salesperson: (global user id, token)."""
    _, token = await api.user(["SALESPERSON"], email=email)
    me = await api.as_token(token).ok("{ viewer { user { id } } }")
    return me["viewer"]["user"]["id"], token


async def leads(api: Api, owner_id: str, n: int, prefix: str = "L") -> list[str]:
    records = [
        {
            "recordType": "lead",
            "externalId": f"{prefix}{i}",
            "name": f"Lead {i}",
            "ownerUserId": owner_id,
            "fields": {"first_name": f"Ann{i}", "email": f"ann{i}@example.com"},
        }
        for i in range(n)
    ]
    payload = await api.mutate("upsertRecords", {"records": records}, "results { record { id } }")
    return [r["record"]["id"] for r in payload["results"]]


async def opened_condition_sequence(
    api: Api, advance_immediately: bool = True, **options: Any
) -> dict[str, Any]:
    """auto email -> wait 1 day -> opened? (2 days) -> YES: call / NO: task."""
    seq = await create(api, "Engine test")
    email = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
    wait = (await add(api, seq, email["id"], "core.wait", {"days": 1}))["step"]
    cond = (
        await add(
            api,
            seq,
            wait["id"],
            "email.condition",
            {"events": ["OPENED"], "days": 2, "advance_immediately": advance_immediately},
        )
    )["step"]
    await add(api, seq, cond["id"], "call.phone", {"script": "Call"}, branch="YES")
    await add(api, seq, cond["id"], "core.task", {"subject": "Try again"}, branch="NO")
    if options:
        await api.mutate(
            "setSequenceOptions", {"sequenceId": seq["id"], **options}, "sequence { id }"
        )
    activated = await api.mutate(
        "activateSequence", {"sequenceId": seq["id"]}, "sequence { status }"
    )
    assert activated["errors"] == [], activated["errors"]
    return seq


async def connect(api: Api, seq: dict[str, Any], record_ids: list[str]) -> list[dict[str, Any]]:
    payload = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": r} for r in record_ids]},
        f"connectedCount results {{ index errors {{ code }} connection {{ {CONNECTION} }} }}",
    )
    assert payload["errors"] == []
    return payload["results"]


async def connections(api: Api, seq: dict[str, Any]) -> dict[str, dict[str, Any]]:
    data = await api.ok(
        f"query($f: ConnectionFilter) {{ connections(filter: $f) {{ nodes {{ {CONNECTION} }} }} }}",
        {"f": {"sequenceId": seq["id"]}},
    )
    return {c["record"]["externalId"]: c for c in data["connections"]["nodes"]}


async def test_email_open_condition_both_branches(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    await api.mutate(
        "updateOrganizationSettings", {"skipNonWorkingTime": False}, "organization { id }"
    )
    owner_id, owner_token = await seller(api, "kari@example.com")
    seq = await opened_condition_sequence(api, skipNonWorkingTime=False)
    records = await leads(api, owner_id, 2)
    results = await connect(api, seq, records)
    assert [r["errors"] for r in results] == [[], []]
    await engine.run_until_idle()
    outbox = await api.ok("{ outbox { totalCount nodes { to subject messageId status } } }")
    assert outbox["outbox"]["totalCount"] == 2
    assert {m["subject"] for m in outbox["outbox"]["nodes"]} == {"Hi Ann0", "Hi Ann1"}
    message = next(m for m in outbox["outbox"]["nodes"] if m["to"] == "ann0@example.com")[
        "messageId"
    ]

    clock.advance(timedelta(days=1, minutes=1))
    await engine.run_until_idle()
    state = await connections(api, seq)
    assert state["L0"]["currentStepKey"] == state["L1"]["currentStepKey"]

    events = await api.mutate(
        "recordEngagementEvents",
        {
            "events": [
                {
                    "eventId": "e1",
                    "kind": "EMAIL_OPENED",
                    "messageId": message,
                    "occurredAt": engine.clock.now().isoformat(),
                }
            ]
        },
        "results { recorded duplicate errors { code } }",
    )
    assert events["results"] == [{"recorded": True, "duplicate": False, "errors": []}]
    again = await api.mutate(
        "recordEngagementEvents",
        {
            "events": [
                {
                    "eventId": "e1",
                    "kind": "EMAIL_OPENED",
                    "messageId": message,
                    "occurredAt": engine.clock.now().isoformat(),
                }
            ]
        },
        "results { recorded duplicate }",
    )
    assert again["results"] == [{"recorded": False, "duplicate": True}]
    await engine.run_until_idle()
    up_next = await api.as_token(owner_token).ok(
        "{ upNext(first: 10) { nodes { id subject kind status record { externalId } sequence { name } step { type } } } }"
    )
    nodes = up_next["upNext"]["nodes"]
    assert [(n["kind"], n["record"]["externalId"], n["step"]["type"]) for n in nodes] == [
        ("CALL", "L0", "call.phone")
    ]

    clock.advance(timedelta(days=2, minutes=1))
    await engine.run_until_idle()
    up_next = await api.as_token(owner_token).ok(
        "{ upNext { nodes { id kind record { externalId } } } }"
    )
    by_record = {n["record"]["externalId"]: n for n in up_next["upNext"]["nodes"]}
    assert by_record["L1"]["kind"] == "TASK"

    no_outcome = await api.as_token(owner_token).mutate(
        "completeActivity", {"activityId": by_record["L0"]["id"]}, "activity { status }"
    )
    assert no_outcome["errors"][0]["code"] == "REQUIRED"
    done = await api.as_token(owner_token).mutate(
        "completeActivity",
        {"activityId": by_record["L0"]["id"], "outcome": "Connected"},
        "activity { status outcome }",
    )
    assert done["activity"] == {"status": "COMPLETED", "outcome": "Connected"}
    closed = await api.as_token(owner_token).mutate(
        "skipActivity", {"activityId": by_record["L0"]["id"]}, "activity { status }"
    )
    assert closed["errors"][0]["code"] == "ACTIVITY_CLOSED"
    await engine.run_until_idle()
    state = await connections(api, seq)
    assert (state["L0"]["status"], state["L0"]["reason"]) == ("COMPLETED", "SEQUENCE_COMPLETED")
    assert state["L1"]["status"] == "CONNECTED"


async def test_connect_refusals(api: Api, engine: Any) -> None:
    owner_id, _ = await seller(api, "ola@example.com")
    seq = await opened_condition_sequence(api)
    records = await leads(api, owner_id, 2)
    contact = await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "contact", "externalId": "C1"}]},
        "results { record { id } }",
    )
    orphan = await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "X1", "isActive": False}]},
        "results { record { id } }",
    )
    payload = await api.mutate(
        "connectSequence",
        {
            "sequenceId": seq["id"],
            "records": [
                {"id": records[0]},
                {"id": records[0]},
                {"recordType": "lead", "externalId": "L1"},
                {"id": contact["results"][0]["record"]["id"]},
                {"id": orphan["results"][0]["record"]["id"]},
                {"recordType": "lead", "externalId": "missing"},
            ],
        },
        "connectedCount results { index errors { code field } }",
    )
    assert payload["connectedCount"] == 2
    codes = [[e["code"] for e in r["errors"]] for r in payload["results"]]
    assert codes == [
        [],
        ["ALREADY_CONNECTED"],
        [],
        ["WRONG_RECORD_TYPE"],
        ["RECORD_INACTIVE"],
        ["NOT_FOUND"],
    ]
    again = await connect(api, seq, [records[0]])
    assert again[0]["errors"][0]["code"] == "ALREADY_CONNECTED"


async def test_inactive_sequence_refuses(api: Api) -> None:
    seq = await create(api, "Draft")
    payload = await api.mutate(
        "connectSequence", {"sequenceId": seq["id"], "records": []}, "connectedCount"
    )
    assert payload["errors"][0]["code"] == "SEQUENCE_INACTIVE"
