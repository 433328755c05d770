"""Sign-in links and signing out: `sekvens user login-link` prints a one-time link whose code
`exchangeLoginLink` swaps for a session token; `signOut` revokes the token it is sent with."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from click.testing import CliRunner
from sqlalchemy import select, update

from sekvens.actions import login_links
from sekvens.app import create_app
from sekvens.cli import main
from sekvens.config import Settings
from sekvens.storage.db import Database
from sekvens.storage.tables import ApiToken, AuditEntry, LoginLink, User
from sekvens.storage.types import utcnow
from tests.conftest import Api

VIEWER = "{ viewer { user { email } roles } }"
EXCHANGE = "token expiresAt"


async def link_for(api: Api, user_id: int) -> str:
    """A fresh code for the user, as the CLI makes it."""
    async with api.db.session(write=True) as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        return await login_links.create_login_link(session, user)


async def exchange(api: Api, code: str) -> dict[str, Any]:
    return await api.mutate("exchangeLoginLink", {"code": code}, EXCHANGE, token=None)


async def test_a_link_exchanges_once_for_a_session_token(api: Api) -> None:
    user_id, _ = await api.user(["SALESPERSON"], email="link@example.com")
    code = await link_for(api, user_id)
    payload = await exchange(api, code)
    assert payload["errors"] == [] and payload["token"].startswith("skv_")
    me = await api.ok(VIEWER, token=payload["token"])
    assert me["viewer"] == {"user": {"email": "link@example.com"}, "roles": ["SALESPERSON"]}
    async with api.db.session() as session:
        token = await session.scalar(
            select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.name == "web session")
        )
        assert token is not None and token.scopes == ["FULL"] and token.expires_at is not None
        left = token.expires_at - utcnow()
        assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12)
        actions = await session.scalars(
            select(AuditEntry.action).where(AuditEntry.organization_id == api.org_id)
        )
        assert {"login_link.created", "login_link.used"} <= set(actions)
    again = await exchange(api, code)
    assert again["token"] is None
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("INVALID_VALUE", ["code"])]


async def test_unknown_used_and_expired_codes_get_the_same_answer(api: Api) -> None:
    user_id, _ = await api.user(["SALESPERSON"])
    used = await link_for(api, user_id)
    assert (await exchange(api, used))["token"]
    expired = await link_for(api, user_id)
    async with api.db.session(write=True) as session, session.begin():
        await session.execute(
            update(LoginLink)
            .where(LoginLink.user_id == user_id, LoginLink.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    answers = [await exchange(api, c) for c in ("not-a-code", used, expired, " ")]
    assert answers[0]["errors"][0]["message"]
    assert all(a == answers[0] for a in answers), answers
    assert answers[0]["token"] is None and answers[0]["errors"][0]["code"] == "INVALID_VALUE"


async def test_a_deactivated_users_link_does_not_work(api: Api) -> None:
    user_id, _ = await api.user(["SALESPERSON"])
    code = await link_for(api, user_id)
    async with api.db.session(write=True) as session, session.begin():
        await session.execute(update(User).where(User.id == user_id).values(is_active=False))
    assert (await exchange(api, code))["errors"][0]["code"] == "INVALID_VALUE"


async def test_sign_out_revokes_the_token_of_the_request(api: Api) -> None:
    user_id, api_token = await api.user(["SALESPERSON"])
    first = (await exchange(api, await link_for(api, user_id)))["token"]
    second = (await exchange(api, await link_for(api, user_id)))["token"]
    payload = await api.mutate("signOut", {}, "revoked revokedCount", token=first)
    assert payload == {"errors": [], "revoked": True, "revokedCount": 1}
    refused = await api.post(VIEWER, token=first)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api.ok(VIEWER, token=second))["viewer"]  # another session goes on
    # everywhere: every web session of the user ends; API tokens stay.
    third = (await exchange(api, await link_for(api, user_id)))["token"]
    payload = await api.mutate("signOut", {"everywhere": True}, "revokedCount", token=third)
    assert payload == {"errors": [], "revokedCount": 2}
    for token in (second, third):
        assert (await api.post(VIEWER, token=token)).status_code == 401
    assert (await api.ok(VIEWER, token=api_token))["viewer"]


async def test_sign_out_without_a_token_is_unauthenticated(api: Api) -> None:
    payload = await api.mutate("signOut", {}, "revoked", token=None)
    assert payload["errors"][0]["code"] == "UNAUTHENTICATED" and payload["revoked"] is False


async def test_a_read_token_signs_itself_out(api: Api) -> None:
    created = await api.mutate("createApiToken", {"scopes": ["READ"]}, "secret")
    payload = await api.mutate("signOut", {}, "revoked", token=created["secret"])
    assert payload == {"errors": [], "revoked": True}


async def test_failed_exchanges_count_as_failed_authentications(db: Database) -> None:
    """A wrong code uses up the address's failed-authentication budget, as a wrong token does;
    then even a good code waits."""
    settings = Settings(
        database_url=db.settings.database_url, auth_failures_burst=2, auth_failures_per_second=0.01
    )
    app = create_app(settings, db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as http:
        api = Api(http, db, "", 0, None)
        codes = [(await exchange(api, "wrong"))["errors"][0]["code"] for _ in range(3)]
        assert codes == ["INVALID_VALUE", "INVALID_VALUE", "RATE_LIMITED"]
        refused = await http.post(
            "/graphql", json={"query": VIEWER}, headers={"Authorization": "Bearer skv_wrong"}
        )
        assert refused.status_code == 429


# --- The command ------------------------------------------------------------------------------


def test_login_link_command_prints_a_link_that_signs_in(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"SEKVENS_DATABASE_URL": url, "SEKVENS_DISABLED_STEP_TYPES": ""}
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    assert run("org", "create", "Acme").exit_code == 0
    created = run(
        "user", "create", "--org", "Acme", "--email", "Sam@Acme.example", "--name", "Sam",
        "--role", "SALESPERSON",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    result = run("user", "login-link", "--email", "sam@acme.example")
    assert result.exit_code == 0, result.output
    prefix = "http://127.0.0.1:8000/#/sign-in?code="
    assert result.output.startswith(prefix) and result.output.endswith("\n")
    code = result.output.strip().removeprefix(prefix)
    custom = run("user", "login-link", "--email", "sam@acme.example", "--base-url", "https://x/")
    assert custom.output.startswith("https://x/#/sign-in?code=")

    async def use(code: str) -> dict[str, Any]:
        app = create_app(Settings(database_url=url))
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
            ) as http:
                api = Api(http, app.state.services.db, "", 0, None)
                payload = await exchange(api, code)
                return await api.ok(VIEWER, token=payload["token"])
        finally:
            await app.state.services.db.dispose()

    assert asyncio.run(use(code))["viewer"]["user"]["email"] == "sam@acme.example"
    missing = run("user", "login-link", "--email", "nobody@acme.example")
    assert missing.exit_code == 1 and "no user nobody@acme.example" in missing.stderr
    assert run("org", "create", "Other").exit_code == 0
    run("user", "create", "--org", "Other", "--email", "sam@acme.example", "--name", "S",
        "--role", "SALESPERSON")  # fmt: skip
    both = run("user", "login-link", "--email", "sam@acme.example")
    assert both.exit_code == 1 and "--org" in both.stderr
    chosen = run("user", "login-link", "--email", "sam@acme.example", "--org", "Other")
    assert chosen.exit_code == 0 and "#/sign-in?code=" in chosen.output
