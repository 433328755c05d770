"""Runtime actions are audited like authoring ones: who, what, when, and through which token."""

from __future__ import annotations

from typing import Any

from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_engine import connect, leads, seller
from tests.conftest import Api

ENTRY = "action entityType entityId detail actor { id } token { id name }"


async def task_sequence(api: Api) -> dict[str, Any]:
    seq = await create(api, "Audited")
    await add(api, seq, start_id(seq), "core.task", {"subject": "Call"})
    activated = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert activated["errors"] == []
    return seq


async def test_runtime_actions_name_who_and_which_token(api: Api, engine: Any) -> None:
    manager_id, manager_token = await seller(api, "audit-seller@example.com")
    integration = await api.mutate(
        "createApiToken", {"name": "crm-sync"}, "secret token { id name }"
    )
    via = api.as_token(integration["secret"])
    seq = await task_sequence(api)
    [record] = await leads(api, manager_id, 1, prefix="AUD")
    [result] = await connect(via, seq, [record])
    connection = result["connection"]["id"]
    for name in ("pauseConnection", "resumeConnection"):
        assert (await via.mutate(name, {"connectionId": connection}, "connection { id }"))[
            "errors"
        ] == []
    await engine.run_until_idle()
    activity = (
        await api.ok(
            "query($id: ID!) { node(id: $id) { ... on SequenceTarget { activities { id } } } }",
            {"id": connection},
        )
    )["node"]["activities"][0]["id"]
    # The seller works the activity assigned to them, with their own token.
    seller_api = api.as_token(manager_token)
    snoozed = await seller_api.mutate(
        "snoozeActivity",
        {"activityId": activity, "until": "2099-01-01T09:00:00Z"},
        "activity { id }",
    )
    assert snoozed["errors"] == []
    events = await via.mutate(
        "recordEngagementEvents",
        {
            "events": [
                {
                    "eventId": "aud-1",
                    "kind": "EMAIL_REPLIED",
                    "activityId": activity,
                    "occurredAt": "2026-01-01T00:00:00Z",
                }
            ]
        },
        "results { recorded }",
    )
    assert events["results"] == [{"recorded": True}]
    await via.mutate("disconnectSequence", {"connectionId": connection}, "connection { id }")

    me = (await api.ok("{ viewer { user { id } } }"))["viewer"]["user"]["id"]
    token = {"id": integration["token"]["id"], "name": "crm-sync"}
    on_connection = await api.ok(
        f"query($id: ID!) {{ node(id: $id) {{ ... on SequenceTarget {{ auditLog {{ nodes"
        f" {{ {ENTRY} }} }} }} }} }}",
        {"id": connection},
    )
    entries = on_connection["node"]["auditLog"]["nodes"]
    assert [e["action"] for e in entries] == [  # newest first
        "connection.disconnected",
        "connection.events_recorded",
        "connection.resumed",
        "connection.paused",
    ]
    assert all(e["actor"] == {"id": me} and e["token"] == token for e in entries)
    assert all(e["entityId"] == connection and e["entityType"] == "connection" for e in entries)
    assert entries[1]["detail"] == {"events": [{"event_id": "aud-1", "kind": "EMAIL_REPLIED"}]}

    # The administrator's audit log has it all, and filters.
    log = await api.ok(
        f"query($f: AuditLogFilter) {{ auditLog(filter: $f) {{ nodes {{ {ENTRY} }} }} }}",
        {"f": {"action": "activity."}},
    )
    [snooze] = log["auditLog"]["nodes"]
    assert snooze["action"] == "activity.snoozed" and snooze["entityId"] == activity
    assert snooze["actor"] == {"id": manager_id} and snooze["token"]["name"] != "crm-sync"
    connected = await api.ok(
        f"query($f: AuditLogFilter) {{ auditLog(filter: $f) {{ nodes {{ {ENTRY} }} }} }}",
        {"f": {"entityId": seq["id"], "action": "sequence.records_connected"}},
    )
    [entry] = connected["auditLog"]["nodes"]
    assert entry["token"] == token and entry["detail"]["count"] == 1
    by_actor = await api.ok(
        "query($f: AuditLogFilter) { auditLog(filter: $f) { nodes { action } } }",
        {"f": {"actorId": manager_id}},
    )
    assert [e["action"] for e in by_actor["auditLog"]["nodes"]] == ["activity.snoozed"]


async def test_audit_log_filter_errors_name_the_field(api: Api) -> None:
    body = await api.gql(
        "query($f: AuditLogFilter) { auditLog(filter: $f) { nodes { action } } }",
        {"f": {"entityId": "not-an-id"}},
    )
    error = body["errors"][0]["extensions"]
    assert error == {"code": "NOT_FOUND", "field": ["filter", "entityId"]}
    body = await api.gql(
        "query($f: AuditLogFilter) { auditLog(filter: $f) { nodes { action } } }",
        {"f": {"action": "x" * 65}},
    )
    assert body["errors"][0]["extensions"]["code"] == "TOO_LONG"
