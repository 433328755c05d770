"""The web app with the keyboard alone (Tab, Shift+Tab, Enter, Space, arrows, Escape): a
manager creates a sequence from the home screen, opens it, adds a task through the + menu,
fills its required subject and activates it; a seller completes a call in up next. The tests
read where the focus is, but move it only with keys."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Server
from tests.browser.test_designer import card, gql, new_sequence, open_designer

#: Tab presses allowed to reach a control (the home screen's filters come before the grid).
MOST_TABS = 80


def focused(locator: Any) -> bool:
    return bool(locator.evaluate("e => e === document.activeElement"))


def tab_to(page: Any, locator: Any, back: bool = False) -> None:
    """Press Tab (Shift+Tab with `back`) until `locator` has the focus."""
    key = "Shift+Tab" if back else "Tab"
    for _ in range(MOST_TABS):
        if locator.count() == 1 and focused(locator):
            return
        page.keyboard.press(key)
    where = page.evaluate("document.activeElement && document.activeElement.outerHTML")
    raise AssertionError(f"{key} never reached {locator}; the focus is on {where[:200]}")


def arrow_to(page: Any, locator: Any, key: str = "ArrowDown", most: int = 40) -> None:
    """Press an arrow key until `locator` has the focus."""
    for _ in range(most):
        if focused(locator):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never reached {locator}")


def test_a_manager_designs_and_activates_a_sequence_with_the_keyboard(
    page: Any, server: Server
) -> None:
    name = "Keyboard only"
    expect(page.get_by_role("heading", name="Sequences")).to_be_focused()
    tab_to(page, page.get_by_role("button", name="New sequence"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New sequence")
    expect(dialog.get_by_label("Name")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Enter")  # submits the form

    # The designer opens with the focus on its heading.
    heading = page.get_by_role("heading", name=name, level=1)
    expect(heading).to_be_focused()
    plus = page.get_by_role("button", name="Add a step after Sequence starts here")
    tab_to(page, plus)
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu")
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    arrow_to(page, menu.get_by_role("menuitem", name=re.compile("^Task")))
    page.keyboard.press("Enter")
    task = card(page, "Task")
    expect(task).to_be_focused()

    # Its settings form: the required subject, reached with Tab, saved as it is typed.
    subject = page.get_by_label("Subject")
    expect(subject).to_have_attribute("aria-required", "true")
    tab_to(page, subject)
    page.keyboard.type("Call the lead")
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()

    # Back to Activate, confirm in the dialog (its Activate button has the focus).
    tab_to(page, page.get_by_role("button", name="Activate", exact=True), back=True)
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog").get_by_role("button", name="Activate")
    expect(confirm).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("The sequence is active")).to_be_focused()

    found = gql(
        server, '{ sequences(search: "Keyboard only") { nodes { status steps { type config } } } }'
    )
    (made,) = found["sequences"]["nodes"]
    assert made["status"] == "ACTIVE"
    assert made["steps"][1]["type"] == "core.task"
    assert made["steps"][1]["config"]["subject"] == "Call the lead"


def test_the_menus_and_dialogs_give_the_focus_back(page: Any, server: Server) -> None:
    columns = page.locator("summary", has_text="Columns")
    tab_to(page, columns)
    page.keyboard.press("Enter")
    panel = page.get_by_role("group", name="Columns of the grid")
    expect(panel).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(columns).to_be_focused()

    new = page.get_by_role("button", name="New sequence")
    tab_to(page, new, back=True)
    page.keyboard.press("Space")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(new).to_be_focused()

    # The designer's + menu: Escape returns to its button; Tab leaves it for what follows.
    open_designer(page, server, new_sequence(server, "Keyboard menus"))
    plus = page.get_by_role("button", name="Add a step after Call the lead")
    tab_to(page, plus)
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu")
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    expect(plus).to_be_focused()
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    page.keyboard.press("Tab")
    expect(menu).to_have_count(0)
    page.keyboard.press("Shift+Tab")
    expect(plus).to_be_focused()


def test_a_seller_completes_a_call_with_the_keyboard(seller_page: Any, server: Server) -> None:
    page = seller_page
    rows = page.locator("table.upnext-grid tbody tr[data-id]")
    expect(rows.first).to_be_visible()
    call_id = rows.filter(has=page.locator(".kind-CALL")).first.get_attribute("data-id")
    call = page.locator(f'table.upnext-grid tr[data-id="{call_id}"]')
    subject = call.locator(".subject").inner_text()

    expect(page.get_by_role("heading", name="Up next")).to_be_focused()
    tab_to(page, call.get_by_role("button", name=f"Complete {subject}"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    outcome = dialog.get_by_label("Call outcome")
    expect(outcome).to_be_focused()
    page.keyboard.press("ArrowDown")  # the first outcome
    assert outcome.input_value() != ""
    tab_to(page, dialog.get_by_role("button", name="Complete"))
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    expect(call).to_have_count(0)
    # The focus stays in the list, on a row's Complete.
    expect(page.locator("table.upnext-grid button.primary:focus")).to_have_count(1)
    done = server.graphql(
        "query($id: ID!) { node(id: $id) { ... on Activity { status outcome } } }",
        server.seller_token,
        {"id": call_id},
    )["data"]["node"]
    assert done["status"] == "COMPLETED" and done["outcome"]
