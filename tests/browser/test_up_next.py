"""Up next in a real browser: a seller completes a call with its outcome and skips
activities while the list keeps itself current through upNextChanged: their own changes and
another actor's (a manager skipping and reassigning the seller's work through the API) show
without reloading the page; bulk actions on selected rows."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Server

STEPS = [
    {"key": "start", "type": "core.start"},
    {
        "key": "call",
        "type": "call.phone",
        "name": "Call them",
        "parentKey": "start",
        "config": {"script": "Introduce yourself."},
    },
    {
        "key": "task",
        "type": "core.task",
        "name": "Send a proposal",
        "parentKey": "call",
        "config": {"subject": "Send a proposal"},
    },
]
ACTIVITIES = """query($sequenceId: ID!) { upNext(first: 100, filter: {sequenceId: $sequenceId}) {
  nodes { id kind subject status record { name } } } }"""


def gql(server: Server, token: str, query: str, variables: Any = None) -> dict[str, Any]:
    body = server.graphql(query, token, variables)
    assert "errors" not in body, body
    data = dict(body["data"])
    for payload in data.values():
        if isinstance(payload, dict) and "errors" in payload:
            assert payload["errors"] == [], payload
    return data


@pytest.fixture
def calls(server: Server) -> dict[str, Any]:
    """A new active contact sequence (a call, then a task) with three of the seller's
    contacts connected: {name, id, records: [record names]}."""
    manager, seller = server.manager_token, server.seller_token
    name = f"Browser up next {uuid.uuid4().hex[:6]}"
    me = gql(server, seller, "{ viewer { user { id } } }")["viewer"]["user"]["id"]
    records = gql(
        server,
        manager,
        "query($f: RecordFilterInput) { records(first: 3, filter: $f) { nodes { id name } } }",
        {"f": {"recordType": "contact", "ownerUserId": me, "isActive": True}},
    )["records"]["nodes"]
    assert len(records) == 3
    seq = gql(
        server,
        manager,
        "mutation($i: CreateSequenceInput!) { createSequence(input: $i) {"
        " errors { message } sequence { id } } }",
        {"i": {"name": name, "recordType": "contact"}},
    )["createSequence"]["sequence"]["id"]
    gql(
        server,
        manager,
        "mutation($i: SetSequenceStepsInput!) { setSequenceSteps(input: $i) { errors { message } } }",
        {"i": {"sequenceId": seq, "steps": STEPS}},
    )
    gql(
        server,
        manager,
        "mutation($i: ActivateSequenceInput!) { activateSequence(input: $i) { errors { message } } }",
        {"i": {"sequenceId": seq}},
    )
    gql(
        server,
        manager,
        "mutation($i: ConnectSequenceInput!) { connectSequence(input: $i) {"
        " errors { message } results { errors { message } } } }",
        {"i": {"sequenceId": seq, "records": [{"id": r["id"]} for r in records]}},
    )
    return {"name": name, "id": seq, "records": [r["name"] for r in records]}


def activities(server: Server, sequence_id: str) -> list[dict[str, Any]]:
    return list(
        gql(server, server.seller_token, ACTIVITIES, {"sequenceId": sequence_id})["upNext"]["nodes"]
    )


def wait_for_calls(server: Server, sequence_id: str) -> list[dict[str, Any]]:
    """The seller's three calls, once the engine has made them."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [a for a in activities(server, sequence_id) if a["kind"] == "CALL"]
        if len(found) == 3:
            return found
        time.sleep(0.2)
    raise AssertionError("the engine made no calls for the seller")


def row(page: Any, record: str, sequence: str, kind: str) -> Any:
    return (
        page.locator("table.upnext-grid tbody tr[data-id]")
        .filter(has_text=record)
        .filter(has_text=sequence)
        .filter(has=page.locator(f".kind-{kind}"))
    )


def test_a_seller_completes_and_skips_while_the_list_updates_live(
    seller_page: Any, server: Server, calls: dict[str, Any]
) -> None:
    page, name = seller_page, calls["name"]
    first, second, third = calls["records"]
    found = wait_for_calls(server, calls["id"])
    page.reload()
    for record in calls["records"]:
        expect(row(page, record, name, "CALL")).to_have_count(1)
    page.evaluate("window.notReloaded = true")

    # Complete the first call: the outcome is asked (the organization's call outcomes).
    row(page, first, name, "CALL").get_by_role("button", name="Complete").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Call outcome").select_option("Connected")
    dialog.get_by_role("button", name="Complete").click()
    expect(row(page, first, name, "CALL")).to_have_count(0)
    # The sequence moves on: the next activity (a task) arrives by the subscription.
    expect(row(page, first, name, "TASK")).to_have_count(1)

    # Skip the second call: it leaves, and its task arrives.
    row(page, second, name, "CALL").get_by_role("button", name="Skip").click()
    expect(row(page, second, name, "CALL")).to_have_count(0)
    expect(row(page, second, name, "TASK")).to_have_count(1)

    # Another actor: a manager skips the third call through the API.
    third_call = next(a for a in found if a["record"]["name"] == third)
    gql(
        server,
        server.manager_token,
        "mutation($i: SkipActivityInput!) { skipActivity(input: $i) { errors { message } } }",
        {"i": {"activityId": third_call["id"], "notes": "Done for Kari"}},
    )
    expect(row(page, third, name, "CALL")).to_have_count(0)
    expect(row(page, third, name, "TASK")).to_have_count(1)

    # ...and reassigns the first task to another seller: it leaves the seller's list.
    task = next(
        a
        for a in activities(server, calls["id"])
        if a["kind"] == "TASK" and a["record"]["name"] == first
    )
    ola = gql(server, server.manager_token, '{ users(search: "Ola") { nodes { id } } }')
    gql(
        server,
        server.manager_token,
        "mutation($i: ReassignActivityInput!) { reassignActivity(input: $i) {"
        " errors { message } } }",
        {"i": {"activityId": task["id"], "userIds": [ola["users"]["nodes"][0]["id"]]}},
    )
    expect(row(page, first, name, "TASK")).to_have_count(0)

    # Bulk: select the two tasks left and complete them together.
    for record in (second, third):
        row(page, record, name, "TASK").get_by_role("checkbox").check()
    expect(page.get_by_role("toolbar")).to_contain_text("2 selected")
    page.get_by_role("toolbar").get_by_role("button", name="Complete…").click()
    expect(row(page, second, name, "TASK")).to_have_count(0)
    expect(row(page, third, name, "TASK")).to_have_count(0)
    assert [a for a in activities(server, calls["id"])] == []
    # All of it happened in the page as loaded: no reload.
    assert page.evaluate("window.notReloaded") is True


def test_an_error_is_shown_beside_what_caused_it(
    seller_page: Any, server: Server, calls: dict[str, Any]
) -> None:
    page, name = seller_page, calls["name"]
    first = calls["records"][0]
    wait_for_calls(server, calls["id"])
    page.reload()
    target = row(page, first, name, "CALL")
    target.get_by_role("button", name="Snooze").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Snooze until").fill("2020-01-01T09:00")
    dialog.get_by_role("button", name="Snooze").click()
    until = dialog.get_by_label("Snooze until")
    expect(until).to_have_attribute("aria-invalid", "true")
    described = until.get_attribute("aria-describedby") or ""
    message = page.locator(f"#{described.split()[-1]}")
    expect(message).to_contain_text("future")
    dialog.get_by_role("button", name="Cancel").click()
    expect(target).to_have_count(1)
