"""Whatever ends a connection ends its work; opted-out records get no automated email.

Through GraphQL with the engine run by hand: each way a connection ends closes its open
activities (CANCELED with the connection's reason), takes them off up next, refuses work on
them, and shows in the statistics.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_engine import AUTO, connect, connections, leads, seller
from tests.api.test_engine_flows import up_next
from tests.conftest import Api

STATS = "stats { running disconnected inError byReason { reason count } steps { stepKey open completed skipped canceled } }"
ACTIVITY = "activities { status closeReason }"


async def activate(api: Api, seq: dict[str, Any]) -> dict[str, Any]:
    payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    assert payload["errors"] == [], payload["errors"]
    return seq


async def task_sequence(api: Api, name: str = "Tasks") -> dict[str, Any]:
    seq = await create(api, name)
    task = (await add(api, seq, start_id(seq), "core.task", {"subject": "Call them"}))["step"]
    await add(api, seq, task["id"], "core.task", {"subject": "Second"})
    return await activate(api, seq)


async def running_task(api: Api, engine: Any) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """A connection waiting on its first open task: (sequence, seller token, lead id, task)."""
    owner_id, token = await seller(api, f"s-{api.org_id}@example.com")
    seq = await task_sequence(api)
    [lead] = await leads(api, owner_id, 1)
    await connect(api, seq, [lead])
    await engine.run_until_idle()
    [task] = await up_next(api, token)
    return seq, token, lead, task


async def assert_work_ended(
    api: Api, seq: dict[str, Any], token: str, task: dict[str, Any], reason: str
) -> None:
    assert await up_next(api, token) == []
    node = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Activity { status closeReason } } }",
        {"id": task["id"]},
    )
    assert node["node"] == {"status": "CANCELED", "closeReason": reason}
    for mutation, extra in (
        ("completeActivity", {}),
        ("skipActivity", {}),
        ("snoozeActivity", {"until": "2099-01-01T00:00:00+00:00"}),
    ):
        payload = await api.as_token(token).mutate(
            mutation, {"activityId": task["id"], **extra}, "activity { id }"
        )
        assert [e["code"] for e in payload["errors"]] == ["ACTIVITY_CLOSED"], mutation


async def stats(api: Api, seq: dict[str, Any]) -> dict[str, Any]:
    data = await api.ok(f"query($id: ID!) {{ sequence(id: $id) {{ {STATS} }} }}", {"id": seq["id"]})
    return data["sequence"]["stats"]


async def test_disconnect_cancels_the_open_task(api: Api, engine: Any) -> None:
    seq, token, _, task = await running_task(api, engine)
    [conn] = (await connections(api, seq)).values()
    payload = await api.mutate(
        "disconnectSequence", {"connectionId": conn["id"]}, f"connection {{ status {ACTIVITY} }}"
    )
    assert payload["connection"]["activities"] == [
        {"status": "CANCELED", "closeReason": "USER_DISCONNECTED"}
    ]
    await assert_work_ended(api, seq, token, task, "USER_DISCONNECTED")
    counted = await stats(api, seq)
    assert counted["disconnected"] == 1 and counted["running"] == 0
    first = next(s for s in counted["steps"] if s["canceled"])
    assert (first["open"], first["canceled"]) == (0, 1)


async def test_deactivating_the_sequence_cancels_its_work(api: Api, engine: Any) -> None:
    seq, token, _, task = await running_task(api, engine)
    payload = await api.mutate("deactivateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert payload["errors"] == []
    await assert_work_ended(api, seq, token, task, "PARENT_SEQUENCE_DEACTIVATED")


async def test_deleting_an_active_sequence_leaves_no_work(api: Api, engine: Any) -> None:
    seq, token, _, task = await running_task(api, engine)
    payload = await api.mutate(
        "deleteSequence", {"sequenceId": seq["id"], "force": True}, "disconnectedCount"
    )
    assert (payload["errors"], payload["disconnectedCount"]) == ([], 1)
    assert await up_next(api, token) == []
    node = await api.ok("query($id: ID!) { node(id: $id) { id } }", {"id": task["id"]})
    assert node["node"] is None


async def test_deactivating_the_record_cancels_its_work(api: Api, engine: Any) -> None:
    seq, token, _, task = await running_task(api, engine)
    await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "L0", "name": "L", "isActive": False}]},
        "createdCount",
    )
    await assert_work_ended(api, seq, token, task, "RECORD_DEACTIVATED")


async def test_a_reply_with_exit_on_reply_cancels_the_open_task(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "reply@example.com")
    seq = await create(api, "Reply exit")
    email = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
    await add(api, seq, email["id"], "core.task", {"subject": "Call"})
    await api.mutate(
        "setSequenceOptions", {"sequenceId": seq["id"], "exitOnReply": True}, "sequence { id }"
    )
    await activate(api, seq)
    await connect(api, seq, await leads(api, owner_id, 1))
    await engine.run_until_idle()
    [task] = await up_next(api, token)
    [conn] = (await connections(api, seq)).values()
    sent = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on SequenceTarget { activities { messageId } } } }",
        {"id": conn["id"]},
    )
    message_id = next(a["messageId"] for a in sent["node"]["activities"] if a["messageId"])
    await api.mutate(
        "recordEngagementEvents",
        {
            "events": [
                {
                    "eventId": "r1",
                    "kind": "EMAIL_REPLIED",
                    "messageId": message_id,
                    "occurredAt": "2026-01-01T00:00:00+00:00",
                }
            ]
        },
        "results { recorded }",
    )
    await assert_work_ended(api, seq, token, task, "EXIT_CRITERION_MET")


async def auto_email_sequence(api: Api, **options: Any) -> dict[str, Any]:
    """email.auto -> task."""
    seq = await create(api, "Auto mail")
    email = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
    await add(api, seq, email["id"], "core.task", {"subject": "Follow up"})
    if options:
        await api.mutate(
            "setSequenceOptions", {"sequenceId": seq["id"], **options}, "sequence { id }"
        )
    return await activate(api, seq)


async def lead(api: Api, owner_id: str, external_id: str, **fields: Any) -> str:
    payload = await api.mutate(
        "upsertRecords",
        {
            "records": [
                {
                    "recordType": "lead",
                    "externalId": external_id,
                    "name": external_id,
                    "ownerUserId": owner_id,
                    "fields": {"first_name": "Ann", **fields},
                }
            ]
        },
        "results { record { id } }",
    )
    return payload["results"][0]["record"]["id"]


async def outbox_to(api: Api) -> list[str]:
    data = await api.ok("{ outbox(first: 100) { nodes { to status } } }")
    return [m["to"] for m in data["outbox"]["nodes"]]


async def test_do_not_email_ends_the_connection_and_sends_nothing(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "optout@example.com")
    seq = await auto_email_sequence(api)
    record = await lead(api, owner_id, "DNE", email="dne@example.com", do_not_email=True)
    await connect(api, seq, [record])
    await engine.run_until_idle()
    conn = (await connections(api, seq))["DNE"]
    assert (conn["status"], conn["reason"]) == ("DISCONNECTED", "OPTED_OUT")
    assert await outbox_to(api) == []
    assert await up_next(api, token) == []
    counted = await stats(api, seq)
    assert {"reason": "OPTED_OUT", "count": 1} in counted["byReason"]


async def test_skipping_opted_out_email_goes_on_without_sending(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "skip@example.com")
    seq = await auto_email_sequence(api, skipOptedOutEmail=True)
    record = await lead(api, owner_id, "DNE", email="dne@example.com", do_not_email=True)
    await connect(api, seq, [record])
    await engine.run_until_idle()
    conn = (await connections(api, seq))["DNE"]
    assert conn["status"] == "CONNECTED"
    assert [a["status"] for a in conn["activities"]] == ["SKIPPED", "OPEN"]
    assert await outbox_to(api) == []
    assert [a["subject"] for a in await up_next(api, token)] == ["Follow up"]


async def test_the_suppression_list(api: Api, engine: Any) -> None:
    added = await api.mutate(
        "addSuppressedAddresses",
        {"addresses": ["Gone@Example.com", "not an address", "gone@example.com"]},
        "addedCount results { index added entry { address source } errors { code field } }",
    )
    assert added["addedCount"] == 1
    first, bad, again = added["results"]
    assert first["entry"] == {"address": "gone@example.com", "source": "MANUAL"}
    assert bad["errors"] == [{"code": "INVALID_VALUE", "field": ["addresses", "1"]}]
    assert (again["added"], again["entry"]["address"]) == (False, "gone@example.com")
    listed = await api.ok('{ suppressedAddresses(search: "GONE") { nodes { address } } }')
    assert listed["suppressedAddresses"]["nodes"] == [{"address": "gone@example.com"}]

    owner_id, token = await seller(api, "supp@example.com")
    seq = await auto_email_sequence(api)
    record = await lead(api, owner_id, "S", email="GONE@example.com")
    await connect(api, seq, [record])
    await engine.run_until_idle()
    assert (await connections(api, seq))["S"]["reason"] == "OPTED_OUT"
    assert await outbox_to(api) == []

    # A salesperson may add an address but neither list nor remove them.
    seller_api = api.as_token(token)
    body = await seller_api.gql("{ suppressedAddresses { nodes { address } } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = await seller_api.mutate(
        "removeSuppressedAddresses", {"addresses": ["gone@example.com"]}, "removedCount"
    )
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    removed = await api.mutate(
        "removeSuppressedAddresses", {"addresses": ["GONE@example.com"]}, "removedCount"
    )
    assert removed["removedCount"] == 1
    record2 = await lead(api, owner_id, "S2", email="gone@example.com")
    await connect(api, seq, [record2])
    await engine.run_until_idle()
    assert await outbox_to(api) == ["gone@example.com"]


async def test_a_manual_email_for_an_opted_out_record_says_why(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "manual@example.com")
    seq = await create(api, "Manual mail")
    await add(api, seq, start_id(seq), "email.manual", {})
    await activate(api, seq)
    ok = await lead(api, owner_id, "OK", email="ok@example.com")
    dne = await lead(api, owner_id, "DNE", email="dne@example.com", do_not_email=True)
    await connect(api, seq, [ok, dne])
    await engine.run_until_idle()
    data = await api.as_token(token).ok(
        "{ upNext { nodes { emailOptOut record { externalId } } } }"
    )
    assert {a["record"]["externalId"]: a["emailOptOut"] for a in data["upNext"]["nodes"]} == {
        "OK": None,
        "DNE": "DO_NOT_EMAIL",
    }


async def test_a_missing_address_is_an_error_the_manager_can_act_on(api: Api, engine: Any) -> None:
    owner_id, _ = await seller(api, "noaddr@example.com")
    seq = await auto_email_sequence(api)
    await connect(api, seq, [await lead(api, owner_id, "NA")])
    await engine.run_until_idle()
    data = await api.ok(
        "query($f: ConnectionFilter) { connections(filter: $f) { nodes { status reason error } } }",
        {"f": {"sequenceId": seq["id"]}},
    )
    [conn] = data["connections"]["nodes"]
    assert (conn["status"], conn["reason"]) == ("ERROR", "NO_EMAIL_ADDRESS")
    assert "no email address" in conn["error"]
    counted = await stats(api, seq)
    assert counted["inError"] == 1 and counted["disconnected"] == 0


@pytest.mark.parametrize("refusal", ["ALREADY_CONNECTED", "RECORD_INACTIVE_TARGET"])
async def test_a_refused_hand_over_is_an_error_with_the_rule_s_code(
    api: Api, engine: Any, refusal: str
) -> None:
    owner_id, token = await seller(api, "handover@example.com")
    target = await create(api, "Nurture")
    await add(api, target, start_id(target), "core.task", {"subject": "Nurture call"})
    await activate(api, target)
    seq = await create(api, "Hand over")
    task = (await add(api, seq, start_id(seq), "core.task", {"subject": "First"}))["step"]
    await add(api, seq, task["id"], "commands.advance_to_sequence", {"sequence": target["key"]})
    await activate(api, seq)
    [record] = await leads(api, owner_id, 1)
    await connect(api, seq, [record])
    expected = "ALREADY_CONNECTED"
    if refusal == "ALREADY_CONNECTED":
        await connect(api, target, [record])
    else:
        await api.mutate("deactivateSequence", {"sequenceId": target["id"]}, "sequence { id }")
        expected = "SEQUENCE_INACTIVE"
    await engine.run_until_idle()
    first = next(a for a in await up_next(api, token) if a["subject"] == "First")
    await api.as_token(token).mutate(
        "completeActivity", {"activityId": first["id"]}, "activity { id }"
    )
    await engine.run_until_idle()
    data = await api.ok(
        "query($f: ConnectionFilter) { connections(filter: $f) { nodes { status reason errorCode } } }",
        {"f": {"sequenceId": seq["id"]}},
    )
    assert data["connections"]["nodes"] == [
        {"status": "ERROR", "reason": "HAND_OVER_REFUSED", "errorCode": expected}
    ]
