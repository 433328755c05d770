"""Signing in and out of the web app in a real browser: with a token through the form, with a
printed sign-in link, signing out (the token stops working), and a wrong token's error."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import MANAGER, SELLER, Server

VIEWER = "{ viewer { user { email } } }"


def new_token(server: Server, email: str) -> str:
    return server.cli(
        "token", "create", "--org", "Demo", "--email", email, "--name", "browser"
    ).strip()


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


def test_sign_in_with_a_printed_link(anonymous_page: Any, server: Server) -> None:
    page = anonymous_page
    link = server.login_link(SELLER)
    assert link.startswith(f"{server.base_url}/#/sign-in?code=")
    page.goto(link)
    expect(page.locator("#nav .who")).to_contain_text("Kari Seller")
    expect(page).to_have_url(f"{server.base_url}/#/sequences")
    session_token = page.evaluate("sessionStorage.getItem('sekvens.token')")
    me = server.graphql(VIEWER, session_token)
    assert me["data"]["viewer"]["user"]["email"] == SELLER
    # The link worked once: opened again (in a new tab), it says so in words.
    again = page.context.new_page()
    again.goto(link)
    alert = again.get_by_role("alert")
    expect(alert).to_contain_text("This sign-in link does not work")
    expect(alert).to_contain_text("used already or expired")
    expect(again.get_by_label("API token")).to_be_visible()
    again.close()


def test_sign_out_revokes_the_token(anonymous_page: Any, server: Server) -> None:
    page = anonymous_page
    token = new_token(server, MANAGER)
    fill_token(page, server, token)
    expect(page.locator("#nav .who")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.base_url}/#/sign-in")
    expect(page.locator("#nav .who")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('sekvens.token')") is None
    refused = server.graphql(VIEWER, token)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    page.goto(f"{server.base_url}/#/up-next")  # signed out, every screen asks to sign in
    expect(page).to_have_url(f"{server.base_url}/#/sign-in")


def test_a_wrong_token_is_refused_in_words(anonymous_page: Any, server: Server) -> None:
    page = anonymous_page
    fill_token(page, server, "skv_not-a-real-token")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("That token was not accepted: it is wrong, revoked or expired.")
    expect(page).to_have_url(f"{server.base_url}/#/sign-in")
    expect(page.get_by_label("API token")).to_be_focused()
    assert page.evaluate("sessionStorage.getItem('sekvens.token')") is None
