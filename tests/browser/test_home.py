"""The sequences home in a real browser: a column layout (order, visibility, width) saved
through the API and restored after a reload; a manager's and a seller's views differing as
their roles say (docs/security.md); deleting an active sequence after the "deactivate and
delete" confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Server, sign_in

LAYOUT = '{ gridPreferences(view: "sequences") { columns { column visible width } } }'
RESET = """mutation { saveGridPreferences(input: {view: "sequences", columns: []}) {
  errors { message } } }"""


def gql(server: Server, token: str, query: str, variables: Any = None) -> dict[str, Any]:
    body = server.graphql(query, token, variables)
    assert "errors" not in body, body
    return dict(body["data"])


def headings(page: Any) -> list[str]:
    return [
        t.strip().rstrip("▲▼ ").strip()
        for t in page.locator("table.home-grid thead th").all_inner_texts()
    ]


@pytest.fixture
def fresh_layout(server: Server) -> Iterator[None]:
    """The manager's default layout before and after the test."""
    gql(server, server.manager_token, RESET)
    yield
    gql(server, server.manager_token, RESET)


def saved(server: Server) -> list[dict[str, Any]]:
    return list(gql(server, server.manager_token, LAYOUT)["gridPreferences"]["columns"])


def test_a_column_layout_is_saved_and_restored_after_a_reload(
    page: Any, server: Server, fresh_layout: None
) -> None:
    page.reload()
    expect(page.locator("table.home-grid")).to_be_visible()
    assert headings(page)[:3] == ["Name", "Status", "Record type"]
    page.get_by_text("Columns", exact=True).click()
    panel = page.get_by_role("group", name="Columns of the grid")
    panel.get_by_role("button", name="Move Status right").click()
    panel.get_by_role("button", name="Move Status right").click()
    panel.get_by_role("checkbox", name="Personal", exact=True).uncheck()
    panel.get_by_label("Width of Name in pixels").fill("320")
    # Saved as it changes: the API has the new layout without any "save" click.
    for _ in range(50):
        columns = saved(server)
        name = next(c for c in columns if c["column"] == "NAME")
        if name["width"] == 320:
            break
        page.wait_for_timeout(100)
    order = [c["column"] for c in columns]
    assert order[:4] == ["NAME", "RECORD_TYPE", "OWNER", "STATUS"]
    assert next(c for c in columns if c["column"] == "IS_PERSONAL")["visible"] is False

    page.reload()
    expect(page.locator("table.home-grid")).to_be_visible()
    assert headings(page)[:4] == ["Name", "Record type", "Owner", "Status"]
    assert "Personal" not in headings(page)
    assert headings(page)[-1] == "Actions"
    width = page.locator("table.home-grid col").first.evaluate("c => c.style.width")
    assert width == "320px"

    # Restoring the default puts everything back, also after a reload.
    page.get_by_text("Columns", exact=True).click()
    page.get_by_role("button", name="Restore the default columns").click()
    expect(page.locator("table.home-grid thead th").nth(1)).to_contain_text("Status")
    page.reload()
    expect(page.locator("table.home-grid thead th").nth(1)).to_contain_text("Status")
    assert "Personal" in headings(page)


def test_sorting_by_a_heading_and_searching(page: Any) -> None:
    name = page.get_by_role("columnheader", name="Name")
    name.get_by_role("button").click()
    expect(name).to_have_attribute("aria-sort", "ascending")
    names = page.locator("table.home-grid tbody a.seq-name").all_inner_texts()
    assert names == sorted(names, key=str.lower)
    name.get_by_role("button").click()
    expect(name).to_have_attribute("aria-sort", "descending")
    page.get_by_label("Search", exact=True).fill("renewal")
    expect(page.locator("table.home-grid tbody a.seq-name")).to_have_text(
        ["Upcoming account renewal"]
    )


def test_filtering_on_counts_names_and_sorting_by_tags(page: Any, server: Server) -> None:
    """The demo's sequences: the filters a front end builds from the columns' values."""
    rows = page.locator("table.home-grid tbody a.seq-name")
    expected = gql(
        server,
        server.manager_token,
        "{ sequences(filter: {minActiveConnections: 1}) { nodes { name } } }",
    )["sequences"]["nodes"]
    page.get_by_label("Active connections from").fill("1")
    page.get_by_label("Active connections from").press("Tab")
    expect(rows).to_have_text([n["name"] for n in expected])
    page.get_by_role("button", name="Clear filters").click()
    page.get_by_label("Name contains").fill("intro")
    expect(rows).to_have_text(["Demo: intro email"])
    page.get_by_label("Steps to").fill("-1")
    page.get_by_label("Steps to").press("Tab")
    expect(page.get_by_role("alert")).to_contain_text("0 or more")
    page.get_by_role("button", name="Clear filters").click()
    tags = page.get_by_role("columnheader", name="Tags")
    tags.get_by_role("button").click()
    expect(tags).to_have_attribute("aria-sort", "ascending")


def test_a_manager_and_a_seller_see_what_their_roles_allow(
    page: Any, seller_page: Any, server: Server
) -> None:
    row = "table.home-grid tbody tr:has(a:text-is('Upcoming account renewal'))"
    # The sequence manager creates organization sequences, clones and deletes them.
    expect(page.get_by_role("button", name="New sequence", exact=True)).to_be_visible()
    expect(page.locator(row).get_by_role("button", name="Delete")).to_be_visible()
    expect(page.locator(row).get_by_role("button", name="Clone")).to_be_visible()

    # The seller sees them read-only: no delete; a new sequence of theirs is personal.
    seller = seller_page
    seller.goto(f"{server.base_url}/#/sequences")
    expect(seller.locator(row)).to_be_visible()
    expect(seller.locator(row).get_by_role("button", name="Delete")).to_have_count(0)
    expect(seller.get_by_text("read-only for a salesperson")).to_be_visible()
    expect(seller.get_by_role("button", name="New sequence", exact=True)).to_have_count(0)
    seller.get_by_role("button", name="New personal sequence").click()
    dialog = seller.get_by_role("dialog")
    personal = dialog.get_by_label("Personal sequence (only mine)")
    expect(personal).to_be_checked()
    expect(personal).to_be_disabled()
    dialog.get_by_role("button", name="Cancel").click()

    # A seller's copy is personal and theirs: they may delete it.
    seller.locator(row).get_by_role("button", name="Clone").click()
    copy = seller.locator("table.home-grid tbody tr").filter(
        has=seller.locator("a.seq-name", has_text="Upcoming account renewal (copy)")
    )
    expect(copy.first).to_be_visible()
    expect(copy.first.locator("td").filter(has_text="Yes")).to_have_count(1)
    copy.first.get_by_role("button", name="Delete").click()
    seller.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(copy).to_have_count(0)


def test_deleting_an_active_sequence_asks_to_deactivate_and_delete(
    page: Any, server: Server
) -> None:
    token = server.manager_token
    found = gql(server, token, '{ sequences(search: "Demo: intro email") { nodes { id } } }')
    source = found["sequences"]["nodes"][0]["id"]
    copy = gql(
        server,
        token,
        "mutation($i: CloneSequenceInput!) { cloneSequence(input: $i) {"
        " errors { message } sequence { id } } }",
        {"i": {"sequenceId": source, "name": "Browser: delete me"}},
    )["cloneSequence"]["sequence"]["id"]
    activated = gql(
        server,
        token,
        "mutation($i: ActivateSequenceInput!) { activateSequence(input: $i) {"
        " errors { message } sequence { status } } }",
        {"i": {"sequenceId": copy}},
    )["activateSequence"]
    assert activated["errors"] == [] and activated["sequence"]["status"] == "ACTIVE"

    sign_in(page, server, token)
    page.get_by_label("Search", exact=True).fill("Browser: delete me")
    row = page.locator("table.home-grid tbody tr").filter(has_text="Browser: delete me")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Delete Browser: delete me", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_have_text("Deactivate and delete?")
    dialog.get_by_role("button", name="Cancel").click()
    assert gql(server, token, "query($id: ID!) { sequence(id: $id) { status } }", {"id": copy})[
        "sequence"
    ] == {"status": "ACTIVE"}

    row.get_by_role("button", name="Delete Browser: delete me", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Deactivate and delete").click()
    expect(row).to_have_count(0)
    gone = gql(server, token, "query($id: ID!) { sequence(id: $id) { id } }", {"id": copy})
    assert gone["sequence"] is None
