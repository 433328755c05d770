"""The designer in a real browser: the seed's walk (a trailing wait refused at activation on
that step, removed, activated), problems shown on the step as it is edited, revisions
(activate with a change description, discard), a partner's step type (the SMS example,
installed in the served process) getting its settings form from its JSON Schema, and a
seller seeing an organization sequence read-only where a manager may edit it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Server, sign_in, start_server
from tests.sms_example import installed_sms_example

SEQUENCE = """query($id: ID!) { sequence(id: $id) { status
  versions { number status changeDescription } steps { key type name config } } }"""


def gql(server: Server, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = server.graphql(query, server.manager_token, variables)
    assert "errors" not in body, body
    return dict(body["data"])


def new_sequence(server: Server, name: str) -> str:
    """An inactive lead sequence holding START and one task, 'Call the lead'; its id."""
    created = gql(
        server,
        "mutation($input: CreateSequenceInput!) { createSequence(input: $input) {"
        " errors { message } sequence { id steps { id } } } }",
        {"input": {"name": name}},
    )["createSequence"]
    assert created["errors"] == []
    sequence = created["sequence"]
    added = gql(
        server,
        "mutation($input: AddStepInput!) { addStep(input: $input) { errors { message } } }",
        {
            "input": {
                "sequenceId": sequence["id"],
                "afterStepId": sequence["steps"][0]["id"],
                "type": "core.task",
                "name": "Call the lead",
                "config": {"subject": "Call the lead"},
            }
        },
    )["addStep"]
    assert added["errors"] == []
    return str(sequence["id"])


def sequence(server: Server, sequence_id: str) -> dict[str, Any]:
    return dict(gql(server, SEQUENCE, {"id": sequence_id})["sequence"])


def open_designer(page: Any, server: Server, sequence_id: str) -> None:
    page.goto(f"{server.base_url}/#/sequences/{sequence_id}")
    expect(page.locator(".step-card").first).to_be_visible()


def card(page: Any, name: str) -> Any:
    return page.locator(".step-card", has=page.locator(".step-name", has_text=name))


def add_step(page: Any, after: str, type_name: str) -> None:
    page.get_by_role("button", name=f"Add a step after {after}").click()
    page.get_by_role("menuitem", name=re.compile(f"^{re.escape(type_name)}")).click()


def activate(page: Any, label: str = "Activate", change: str | None = None) -> None:
    page.get_by_role("button", name=label).click()
    dialog = page.get_by_role("dialog")
    if change is not None:
        dialog.get_by_label("What changed").fill(change)
    dialog.get_by_role("button", name="Activate").click()


def test_the_seed_walk(page: Any, server: Server) -> None:
    sequence_id = new_sequence(server, "Seed walk")
    open_designer(page, server, sequence_id)

    # A trailing wait, edited: the API's problems show on the step and beside its field.
    add_step(page, "Call the lead", "Set wait time")
    wait = card(page, "Set wait time")
    expect(wait).to_have_attribute("aria-current", "true")  # its settings are open
    page.get_by_label("Days").fill("99")
    # Beside its field, and tied to it for assistive technology.
    expect(page.get_by_label("Days")).to_have_accessible_description(
        re.compile("less than or equal to 30")
    )
    expect(page.get_by_label("Days")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".step-problems")).to_contain_text("Days: Input should be less than")
    page.get_by_label("Days").fill("2")
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.locator(".step-problems")).not_to_contain_text("Days")
    assert sequence(server, sequence_id)["steps"][-1]["config"] == {"days": 2, "hours": 0}

    # Activation is refused at that step: named, outlined and focused.
    activate(page)
    alert = page.locator(".errors[role=alert]")
    expect(alert).to_contain_text("The sequence was not activated")
    expect(alert).to_contain_text("Step “Set wait time”: A sequence can't end with a wait")
    expect(wait).to_have_class(re.compile(r"\bhighlight\b"))
    expect(wait).to_be_focused()
    assert sequence(server, sequence_id)["status"] == "INACTIVE"

    # Remove it (the Delete key on the focused step does the same), then activate.
    page.get_by_role("button", name="Remove step").click()
    expect(wait).to_have_count(0)
    expect(page.locator(".highlight")).to_have_count(0)
    activate(page)
    expect(page.locator(".designer-head .badge.ACTIVE")).to_have_text("Active")
    expect(page.get_by_text("The sequence is active")).to_be_focused()
    assert sequence(server, sequence_id)["status"] == "ACTIVE"


def test_the_tree_and_the_add_menu_work_with_the_keyboard(page: Any, server: Server) -> None:
    sequence_id = new_sequence(server, "Keyboard walk")
    open_designer(page, server, sequence_id)
    start = card(page, "Sequence starts here")
    start.focus()
    page.keyboard.press("ArrowDown")
    expect(card(page, "Call the lead")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Call the lead")).to_be_visible()

    plus = page.get_by_role("button", name="Add a step after Call the lead")
    plus.focus()
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu")
    for group in ("Steps", "Conditions", "Commands", "LinkedIn"):
        expect(menu.get_by_role("group", name=group)).to_be_visible()
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    expect(plus).to_be_focused()

    # A condition after the task: its Yes and No paths, each with its own +.
    page.keyboard.press("Enter")
    menu.get_by_role("group", name="Conditions").get_by_role(
        "menuitem", name=re.compile("^Email condition")
    ).click()
    condition = card(page, "Email condition")
    expect(condition).to_be_focused()
    expect(
        page.get_by_role("button", name="Add a step to the Yes path of Email condition")
    ).to_be_visible()
    expect(
        page.get_by_role("button", name="Add a step to the No path of Email condition")
    ).to_be_visible()
    # An email condition must follow an email: the API's problem shows on the step.
    expect(page.locator(".step-problems")).to_be_visible()


def test_revisions_activate_with_a_change_description_and_discard(
    page: Any, server: Server
) -> None:
    sequence_id = new_sequence(server, "Revised walk")
    open_designer(page, server, sequence_id)
    activate(page)
    expect(page.locator(".designer-head .badge.ACTIVE")).to_be_visible()
    expect(page.get_by_role("button", name="Add a step after Call the lead")).to_have_count(0)

    page.get_by_role("button", name="Edit as a revision").click()
    expect(page.get_by_text("Editing revision 2")).to_be_visible()
    add_step(page, "Call the lead", "Phone call")
    expect(card(page, "Phone call")).to_be_visible()
    page.get_by_role("button", name="Activate revision 2").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Activate").click()
    expect(dialog.get_by_text("needs a change description")).to_be_visible()
    dialog.get_by_label("What changed").fill("Call after the task")
    dialog.get_by_role("button", name="Activate").click()
    expect(page.get_by_text("The revision is now the active version")).to_be_visible()

    page.get_by_role("tab", name="Versions").click()
    versions = page.locator("ol.versions li")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("Version 2")
    expect(versions.first).to_contain_text("“Call after the task”")
    expect(versions.nth(1)).to_contain_text("Retired")

    page.get_by_role("button", name="Create a revision").click()
    expect(page.get_by_text("Editing revision 3")).to_be_visible()
    page.get_by_role("tab", name="Versions").click()
    page.get_by_role("button", name="Discard revision 3").click()
    page.get_by_role("dialog").get_by_role("button", name="Discard").click()
    expect(page.get_by_text("Editing revision 3")).to_have_count(0)
    got = sequence(server, sequence_id)
    assert [v["number"] for v in got["versions"]] == [2, 1]
    assert [s["type"] for s in got["steps"]] == ["core.start", "core.task", "call.phone"]


@pytest.fixture(scope="module")
def sms_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A served app whose process has the partner example examples/sekvens-sms installed
    (pip install --target, on the process's PYTHONPATH), as a partner installs it."""
    directory = tmp_path_factory.mktemp("sms-browser")
    with installed_sms_example(directory / "sms") as target, pytest.MonkeyPatch.context() as mp:
        paths = [str(target), *filter(None, [os.environ.get("PYTHONPATH")])]
        mp.setenv("PYTHONPATH", os.pathsep.join(paths))
        (directory / "app").mkdir()
        yield from start_server(directory / "app")


def test_a_partner_step_type_gets_its_form(browser: Any, sms_server: Server) -> None:
    sequence_id = new_sequence(sms_server, "Text walk")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = sign_in(context.new_page(), sms_server, sms_server.manager_token)
        open_designer(page, sms_server, sequence_id)
        page.get_by_role("button", name="Add a step after Call the lead").click()
        steps = page.get_by_role("menu").get_by_role("group", name="Steps")
        expect(
            steps.get_by_role("menuitem", name=re.compile("^Automated text message"))
        ).to_be_visible()
        steps.get_by_role("menuitem", name=re.compile("^Text message")).click()

        # The form comes from SmsConfig's JSON Schema: a required long text and a field name.
        expect(page.get_by_text("from sekvens-sms 1.0.0")).to_be_visible()
        text = page.get_by_role("textbox", name="Text", exact=True)
        expect(text).to_have_attribute("aria-required", "true")
        expect(page.get_by_label("Phone Field")).to_have_value("mobile_phone")
        expect(page.locator(".step-problems")).to_contain_text("Text")  # required, empty
        text.fill("Hi {{ first_name }}, a quick note from sekvens.")
        page.get_by_label("Phone Field").fill("no_such_field")
        expect(page.get_by_label("Phone Field")).to_have_accessible_description(
            re.compile("has no field 'no_such_field'")
        )
        page.get_by_label("Phone Field").fill("mobile_phone")
        expect(page.locator(".step-problems")).to_have_count(0)
    finally:
        context.close()
    steps_now = sequence(sms_server, sequence_id)["steps"]
    assert steps_now[-1]["type"] == "sms.manual"
    assert steps_now[-1]["config"] == {
        "text": "Hi {{ first_name }}, a quick note from sekvens.",
        "phone_field": "mobile_phone",
    }


PREVIEW = """query($sequenceId: ID!, $recordId: ID!, $startAt: DateTime) {
  sequencePreview(sequenceId: $sequenceId, recordId: $recordId, startAt: $startAt) {
    steps { name reachedAt dueAt sendAt waitUntil } } }"""


def test_the_timeline_preview_shows_the_apis_dates(page: Any, server: Server) -> None:
    found = gql(server, '{ sequences(search: "High-volume") { nodes { id } } }')
    sequence_id = found["sequences"]["nodes"][0]["id"]
    open_designer(page, server, sequence_id)
    page.get_by_role("tab", name="Preview").click()
    record = page.get_by_label("Record", exact=True)
    expect(record.locator("option").first).to_be_attached()
    page.get_by_label("Find a lead").fill("LEAD-00002")
    page.get_by_role("button", name="Search").click()
    expect(record.locator("option")).to_have_count(1)
    record.select_option(index=0)
    record_id = record.input_value()

    # Beyond the supported dates: the API's refusal, in words, beside the start.
    page.get_by_label("Start").fill("9999-12-31T23:00")
    page.get_by_role("button", name="Show timeline").click()
    expect(page.get_by_label("Start")).to_have_accessible_description(
        re.compile("beyond the supported range")
    )

    page.get_by_label("Start").fill("2030-01-04T15:30")  # a Friday afternoon
    start_at = page.evaluate("new Date('2030-01-04T15:30').toISOString()")
    page.get_by_role("button", name="Show timeline").click()
    steps = page.locator("ol.timeline li.tl-step")
    expected = gql(
        server, PREVIEW, {"sequenceId": sequence_id, "recordId": record_id, "startAt": start_at}
    )["sequencePreview"]["steps"]
    expect(steps).to_have_count(len(expected))
    for path in ("Yes", "No"):
        name = f"Timeline of the {path} path of Reached them?"
        expect(page.get_by_role("region", name=name)).to_be_visible()
    # Each step shows the time the API gives it: due, sent, waited until, else reached.
    shown = steps.locator(":scope > .tl-when time").evaluate_all(
        "times => times.map(t => t.getAttribute('datetime'))"
    )
    assert shown == [
        s["dueAt"] or s["sendAt"] or s["waitUntil"] or s["reachedAt"] for s in expected
    ]
    # A step of the timeline leads to the step in the designer.
    page.locator("ol.timeline").get_by_role("button", name="Call: discovery").click()
    expect(card(page, "Call: discovery")).to_be_focused()


MAY_EDIT = """query($search: String) { sequences(search: $search) {
  nodes { id name isPersonal viewerMayEdit } } }"""


def test_a_seller_sees_an_organization_sequence_read_only(
    page: Any, seller_page: Any, server: Server
) -> None:
    name = "High-volume outbound prospecting"
    for_seller = server.graphql(MAY_EDIT, server.seller_token, {"search": name})["data"]
    (seen,) = [s for s in for_seller["sequences"]["nodes"] if s["name"] == name]
    assert seen["isPersonal"] is False and seen["viewerMayEdit"] is False
    assert gql(server, MAY_EDIT, {"search": name})["sequences"]["nodes"][0]["viewerMayEdit"]

    seller = seller_page
    open_designer(seller, server, seen["id"])
    expect(seller.locator("#read-only-note")).to_contain_text("organization sequence")
    expect(seller.locator("button.plus")).to_have_count(0)
    head = seller.locator(".designer-head")
    for label in ("Activate", "Deactivate", "Edit as a revision", "Discard revision"):
        expect(head.get_by_role("button", name=label)).to_have_count(0)
    expect(seller.get_by_role("link", name="Insight")).to_be_visible()

    # A step's settings: readable and focusable, not changeable, nothing to remove.
    card(seller, "Call: discovery").click()
    expect(seller.get_by_role("heading", name="Call: discovery")).to_be_visible()
    step_name = seller.get_by_label("Name", exact=True)
    expect(step_name).to_have_value("Call: discovery")
    expect(step_name).not_to_be_editable()
    step_name.focus()
    expect(step_name).to_be_focused()
    expect(seller.get_by_role("button", name="Remove step")).to_have_count(0)
    expect(seller.get_by_role("button", name="Save now")).to_have_count(0)
    expect(seller.locator(".side-pane :disabled")).to_have_count(0)
    card(seller, "Call: discovery").focus()
    seller.keyboard.press("Delete")  # removes a step where one may
    expect(card(seller, "Call: discovery")).to_have_count(1)

    # Properties: shown, focusable, unchangeable, without save buttons.
    seller.get_by_role("tab", name="Properties").click()
    expect(seller.get_by_label("Name", exact=True)).not_to_be_editable()
    owner = seller.get_by_role("radio", name="Record owner")
    expect(owner).to_have_attribute("aria-disabled", "true")
    checked = seller.locator("input[name=assignTo]:checked")
    before = checked.get_attribute("id")
    seller.get_by_role("radio", name="Current user").click(force=True)
    assert checked.get_attribute("id") == before
    expect(seller.locator(".side-pane form button[type=submit]")).to_have_count(0)
    expect(seller.locator(".side-pane :disabled")).to_have_count(0)
    seller.get_by_role("tab", name="Versions").click()
    expect(seller.get_by_role("button", name="Create a revision")).to_have_count(0)

    # The preview still works: one of the seller's own leads.
    me = server.graphql("{ viewer { user { id } } }", server.seller_token)["data"]
    own = server.graphql(
        "query($f: RecordFilterInput) { records(first: 1, filter: $f) { nodes { externalId } } }",
        server.seller_token,
        {"f": {"recordType": "lead", "ownerUserId": me["viewer"]["user"]["id"], "isActive": True}},
    )["data"]["records"]["nodes"][0]["externalId"]
    seller.get_by_role("tab", name="Preview").click()
    seller.get_by_label("Find a lead").fill(own)
    seller.get_by_role("button", name="Search").click()
    expect(seller.get_by_label("Record", exact=True).locator("option")).to_have_count(1)
    seller.get_by_role("button", name="Show timeline").click()
    expect(seller.locator("ol.timeline li.tl-step").first).to_be_visible()

    # A manager may change it: no notice, the revision and deactivation buttons.
    open_designer(page, server, seen["id"])
    expect(page.locator(".designer-head").get_by_role("button", name="Deactivate")).to_be_visible()
    expect(page.get_by_role("button", name="Edit as a revision")).to_be_visible()
    expect(page.locator("#read-only-note")).to_have_count(0)
    card(page, "Call: discovery").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Call: discovery")
    page.get_by_role("button", name="Edit as a revision").click()
    expect(page.locator("button.plus").first).to_be_visible()
    page.get_by_role("tab", name="Versions").click()
    page.get_by_role("button", name="Discard revision").first.click()
    page.get_by_role("dialog").get_by_role("button", name="Discard").click()
    expect(page.get_by_text("Editing revision")).to_have_count(0)
