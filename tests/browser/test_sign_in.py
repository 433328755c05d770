"""Signing in to the web app in a real browser: with a token through the form, and a wrong
token's error."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Server

VIEWER = "{ viewer { user { email } } }"


def fill_token(page: Any, server: Server, token: str) -> None:
    page.goto(f"{server.base_url}/#/sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_with_a_token(anonymous_page: Any, server: Server) -> None:
    page = anonymous_page
    page.goto(server.base_url)
    expect(page).to_have_url(f"{server.base_url}/#/sign-in")  # nobody signed in yet
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    fill_token(page, server, server.manager_token)
    expect(page).to_have_url(f"{server.base_url}/#/sequences")
    expect(page.locator("#nav .who")).to_contain_text("Sverre Sequence · Demo")
    stored = page.evaluate("sessionStorage.getItem('sekvens.token')")
    assert stored == server.manager_token
    assert page.evaluate("localStorage.length") == 0  # kept for the tab's session only


def test_a_wrong_token_is_refused_in_words(anonymous_page: Any, server: Server) -> None:
    page = anonymous_page
    fill_token(page, server, "skv_not-a-real-token")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("That token was not accepted: it is wrong, revoked or expired.")
    expect(page).to_have_url(f"{server.base_url}/#/sign-in")
    expect(page.get_by_label("API token")).to_be_focused()
    assert page.evaluate("sessionStorage.getItem('sekvens.token')") is None
