"""Every screen of the web app, in its main states, checked by axe-core (bundled by
axe-playwright-python, so it runs offline): sign in with an error, the sequences home with the
Columns menu, the New sequence and delete dialogs open, the designer (a step's form, the +
menu, the Properties, Versions and Preview tabs, an activation refusal, a seller's read-only
view), up next with rows, a row selected and a dialog, insight as a chart and as a table. A
violation of impact "serious" or "critical" fails the test, listed by rule, element and what
to fix."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Server
from tests.browser.test_designer import card, gql, new_sequence, open_designer

#: The impacts that fail a check.
FAILING = {"serious", "critical"}


def violations(page: Any, disable: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page as it is now; `disable` maps a rule
    id to why it does not apply to this state."""
    from axe_playwright_python.sync_playwright import Axe

    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if disable:
        options["rules"] = {rule: {"enabled": False} for rule in disable}
    results = Axe().run(page, options=options)
    return [v for v in results.response["violations"] if v["impact"] in FAILING]


def report(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"][:8]:
            lines.append(f"    at {' '.join(node['target'])}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"      {summary[:300]}")
        if len(v["nodes"]) > 8:
            lines.append(f"    … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def check(page: Any, state: str, disable: dict[str, str] | None = None) -> None:
    """Fail on any serious or critical axe violation, naming the screen state."""
    found = violations(page, disable)
    assert not found, f"accessibility violations on {state}:\n{report(found)}"


def test_sign_in_with_an_error(anonymous_page: Any, server: Server) -> None:
    page = anonymous_page
    page.goto(f"{server.base_url}/#/sign-in")
    check(page, "sign in")
    page.get_by_label("API token").fill("skv_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "sign in with an error")


def test_the_sequences_home(page: Any, server: Server) -> None:
    expect(page.locator("table.home-grid tbody tr").first).to_be_visible()
    check(page, "the sequences home")
    page.get_by_text("Columns", exact=True).click()
    expect(page.get_by_role("group", name="Columns of the grid")).to_be_visible()
    check(page, "the sequences home with the Columns menu open")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="New sequence").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "the New sequence dialog")
    page.keyboard.press("Escape")
    page.locator("table.home-grid tbody tr").first.get_by_role(
        "button", name=re.compile("^Delete")
    ).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "the sequences home asking to confirm a deletion")
    page.keyboard.press("Escape")


def test_the_sequences_home_for_a_seller(seller_page: Any, server: Server) -> None:
    page = seller_page
    page.goto(f"{server.base_url}/#/sequences")
    expect(page.locator("table.home-grid tbody tr").first).to_be_visible()
    check(page, "the sequences home of a seller")


def test_the_designer(page: Any, server: Server) -> None:
    sequence_id = new_sequence(server, "Accessible walk")
    open_designer(page, server, sequence_id)
    check(page, "the designer")
    card(page, "Call the lead").click()
    expect(page.get_by_role("heading", name="Call the lead")).to_be_visible()
    check(page, "the designer with a step's form")

    page.get_by_role("button", name="Add a step after Call the lead").click()
    expect(page.get_by_role("menu")).to_be_visible()
    check(page, "the designer's + menu")
    page.keyboard.press("Escape")

    page.get_by_role("tab", name="Properties").click()
    expect(page.get_by_role("heading", name="Properties")).to_be_visible()
    check(page, "the Properties tab")
    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_role("heading", name="Versions")).to_be_visible()
    check(page, "the Versions tab")
    page.get_by_role("tab", name="Preview").click()
    expect(page.get_by_label("Record", exact=True).locator("option").first).to_be_attached()
    page.get_by_role("button", name="Show timeline").click()
    expect(page.locator("ol.timeline li.tl-step").first).to_be_visible()
    check(page, "the Preview tab with a timeline")

    # A trailing wait: activation is refused at that step.
    page.get_by_role("button", name="Add a step after Call the lead").click()
    page.get_by_role("menuitem", name=re.compile("^Set wait time")).click()
    expect(card(page, "Set wait time")).to_be_focused()
    page.get_by_role("button", name="Activate").click()
    page.get_by_role("dialog").get_by_role("button", name="Activate").click()
    expect(page.get_by_role("alert").filter(has_text="was not activated")).to_be_visible()
    check(page, "the designer with an activation refused")


def test_the_designer_read_only(server: Server, seller_page: Any) -> None:
    found = gql(server, '{ sequences(search: "High-volume") { nodes { id } } }')
    sequence_id = found["sequences"]["nodes"][0]["id"]
    open_designer(seller_page, server, sequence_id)
    card(seller_page, "Call: discovery").click()
    expect(seller_page.get_by_role("heading", name="Call: discovery")).to_be_visible()
    check(seller_page, "the read-only designer")
    seller_page.get_by_role("tab", name="Properties").click()
    check(seller_page, "the read-only Properties tab")


def test_up_next(seller_page: Any, server: Server) -> None:
    page = seller_page
    expect(page.locator("table.upnext-grid tbody tr").first).to_be_visible()
    check(page, "up next")
    page.locator("table.upnext-grid tbody tr").first.get_by_role("checkbox").check()
    expect(page.locator("table.upnext-grid tr.selected")).to_have_count(1)
    check(page, "up next with a row selected")
    page.locator("table.upnext-grid tbody tr").first.get_by_role(
        "button", name=re.compile("^Snooze")
    ).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "up next with the Snooze dialog")
    page.keyboard.press("Escape")
    page.locator("table.upnext-grid tbody tr").first.get_by_role(
        "button", name=re.compile("^Complete")
    ).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "up next with the Complete dialog")


def test_insight(page: Any, server: Server) -> None:
    found = gql(server, '{ sequences(search: "Demo: call new leads") { nodes { id } } }')
    sequence_id = found["sequences"]["nodes"][0]["id"]
    page.goto(f"{server.base_url}/#/sequences/{sequence_id}/insight")
    expect(page.locator("svg.funnel")).to_be_visible()
    expect(page.locator("table.grid tbody tr").first).to_be_visible()
    check(page, "insight with the chart")
    page.get_by_label("Show the numbers as a table").check()
    expect(page.locator("table.funnel-table")).to_be_visible()
    check(page, "insight with the table")
