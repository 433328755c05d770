"""The `sekvens` command against a fresh SQLite file per test; tokens it prints work on the API."""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from sekvens.app import create_app
from sekvens.cli import main
from sekvens.config import Settings
from sekvens.graphql_schema import build_schema
from sekvens.storage.migrate import head_revision
from tests.sms_example import installed_sms_example

VIEWER = "{ viewer { user { email name } organization { name } roles } }"
BUILT_IN_COUNT = 16


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def run(database_url: str) -> Any:
    """`run("org", "create", "Acme")`: invoke the command with the test database."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(
            main,
            list(args),
            env={
                "SEKVENS_DATABASE_URL": database_url,
                "SEKVENS_DISABLED_STEP_TYPES": "",
                **(env or {}),
            },
            catch_exceptions=False,
        )

    return invoke


def graphql(database_url: str, query: str, token: str | None) -> dict[str, Any]:
    """POST `query` to an app built by `create_app` on the same database."""

    async def call() -> dict[str, Any]:
        app = create_app(Settings(database_url=database_url))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
            ) as client:
                response = await client.post("/graphql", json={"query": query}, headers=headers)
                return {"status": response.status_code, **response.json()}
        finally:
            await app.state.services.db.dispose()

    return asyncio.run(call())


def test_migrate(run: Any) -> None:
    result = run("migrate")
    assert result.exit_code == 0, result.output
    assert result.output == f"database at revision {head_revision()}\n"
    assert run("migrate").output == result.output  # idempotent


def test_org_and_user_with_token_reach_the_viewer(run: Any, database_url: str) -> None:
    result = run("org", "create", "Acme")
    assert (result.exit_code, result.output) == (0, "organization 'Acme' created\n")
    result = run(
        "user",
        "create",
        *("--org", "Acme", "--email", "Ada@Acme.example", "--name", "Ada"),
        *("--role", "SEQUENCE_MANAGER", "--role", "SALESPERSON", "--token"),
    )
    assert result.exit_code == 0, result.output
    created, token = result.output.splitlines()
    assert created == "user ada@acme.example created"
    body = graphql(database_url, VIEWER, token)
    assert body["status"] == 200 and "errors" not in body
    assert body["data"]["viewer"] == {
        "user": {"email": "ada@acme.example", "name": "Ada"},
        "organization": {"name": "Acme"},
        "roles": ["SALESPERSON", "SEQUENCE_MANAGER"],  # sorted
    }
    assert graphql(database_url, VIEWER, None)["errors"][0]["extensions"]["code"] == (
        "UNAUTHENTICATED"
    )
    # Another organization's token sees its own organization only.
    run("org", "create", "Other")
    other = run(
        *("user", "create", "--org", "Other", "--email", "o@other.example", "--name", "O"),
        *("--role", "SALESPERSON"),
    )
    assert other.output == "user o@other.example created\n"  # no --token: no token printed
    other_token = run("token", "create", "--org", "Other", "--email", "o@other.example").output
    viewer = graphql(database_url, VIEWER, other_token.strip())["data"]["viewer"]
    assert viewer["organization"] == {"name": "Other"}


def test_token_create(run: Any, database_url: str) -> None:
    run("org", "create", "Acme")
    run(
        "user",
        "create",
        "--org",
        "Acme",
        "--email",
        "b@acme.example",
        "--name",
        "B",
        "--role",
        "SALESPERSON",
    )
    result = run("token", "create", "--org", "Acme", "--email", "b@acme.example")
    assert result.exit_code == 0, result.output
    [token] = result.output.splitlines()
    body = graphql(database_url, VIEWER, token)
    assert body["data"]["viewer"]["user"]["email"] == "b@acme.example"
    assert body["data"]["viewer"]["roles"] == ["SALESPERSON"]
    # A second token is a different secret; both work.
    second = run("token", "create", "--org", "Acme", "--email", "b@acme.example").output.strip()
    assert second != token
    assert graphql(database_url, VIEWER, second)["data"]["viewer"]["user"]["name"] == "B"
    # A token with scopes does only what they allow.
    args = ("token", "create", "--org", "Acme", "--email", "b@acme.example")
    events = run(*args, "--scope", "ENGAGEMENT_EVENTS", "--scope", "RECORDS_SYNC")
    assert events.exit_code == 0, events.output
    assert graphql(database_url, VIEWER, events.output.strip())["data"]["viewer"]["user"]
    refused = graphql(database_url, "{ users { nodes { id } } }", events.output.strip())
    assert refused["errors"][0]["extensions"] == {
        "code": "FORBIDDEN",
        "field": ["users"],
        "scope": "READ",
    }
    assert run(*args, "--scope", "EVERYTHING").exit_code == 2  # not a scope


def test_errors_exit_1_with_a_message(run: Any) -> None:
    run("org", "create", "Acme")
    args = ("user", "create", "--org", "Acme", "--email", "a@acme.example", "--name", "A")
    args += ("--role", "SALESPERSON")
    assert run(*args).exit_code == 0
    duplicate = run(*args, "--token")
    assert duplicate.exit_code == 1
    assert duplicate.stdout == ""
    assert (
        duplicate.stderr == "error: DUPLICATE (email): A user with email a@acme.example exists.\n"
    )

    unknown_org = run("token", "create", "--org", "Nope", "--email", "a@acme.example")
    assert unknown_org.exit_code == 1
    assert "no organization named 'Nope'" in unknown_org.stderr
    unknown_user = run("token", "create", "--org", "Acme", "--email", "z@acme.example")
    assert unknown_user.exit_code == 1
    assert "no user z@acme.example in 'Acme'" in unknown_user.stderr

    duplicate_org = run("org", "create", "acme")
    assert duplicate_org.exit_code == 1
    assert duplicate_org.stderr.startswith("error: DUPLICATE (name): ")

    bad_role = run(*args[:-2], "--role", "EMPEROR")
    assert bad_role.exit_code == 2  # click's usage error
    assert "EMPEROR" in bad_role.stderr


def _demo_tokens(output: str) -> dict[str, str]:
    lines = [line.split() for line in output.splitlines() if line.startswith("  ")]
    return {email: token for email, _roles, token in lines}


DEMO_COUNTS = """{
  users { totalCount } teams { totalCount }
  lead: records(filter: {recordType: "lead"}) { totalCount }
  opportunity: records(filter: {recordType: "opportunity"}) { totalCount }
  account: records(filter: {recordType: "account"}) { totalCount }
  contact: records(filter: {recordType: "contact"}) { totalCount }
  ownerTeams: teams(kind: OWNER) { totalCount } accessTeams: teams(kind: ACCESS) { totalCount }
}"""


def test_demo(run: Any, database_url: str) -> None:
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Demo organization 'Demo' loaded.")
    tokens = _demo_tokens(result.output)
    assert len(tokens) == 6
    data = graphql(database_url, DEMO_COUNTS, tokens["admin@demo.example"])["data"]
    assert data == {
        "users": {"totalCount": 6},
        "teams": {"totalCount": 2},
        "lead": {"totalCount": 250},
        "opportunity": {"totalCount": 250},
        "account": {"totalCount": 250},
        "contact": {"totalCount": 250},
        "ownerTeams": {"totalCount": 1},
        "accessTeams": {"totalCount": 1},
    }
    roles = {
        email: graphql(database_url, VIEWER, token)["data"]["viewer"]["roles"]
        for email, token in tokens.items()
    }
    assert sorted(r for rs in roles.values() for r in rs) == sorted(
        ["SYSTEM_ADMINISTRATOR", "SEQUENCE_MANAGER", "SALES_MANAGER", *["SALESPERSON"] * 3]
    )
    again = run("demo")
    assert again.exit_code == 1
    assert "DUPLICATE" in again.stderr


def test_serve_demo_loads_into_an_empty_database_only(
    run: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(kw))
    first = run("serve", "--demo", "--port", "8123")
    assert first.exit_code == 0, first.output
    assert len(_demo_tokens(first.output)) == 6
    assert "sekvens serves http://127.0.0.1:8123/graphql" in first.output
    second = run("serve", "--demo")
    assert second.exit_code == 0, second.output
    assert "no demo loaded" in second.output
    assert "sekvens token create --org Demo --email admin@demo.example" in second.output
    assert [(s["host"], s["port"]) for s in served] == [("127.0.0.1", 8123), ("127.0.0.1", 8000)]


def test_schema_prints_the_sdl(run: Any) -> None:
    result = run("schema")
    assert result.exit_code == 0
    assert result.output == build_schema().as_str() + "\n"


def _plugin_rows(output: str) -> dict[str, list[str]]:
    """The table before the first blank line, by key: [category, version, provided by]."""
    header, *rows = [line.split(None, 3) for line in output.split("\n\n")[0].splitlines()]
    assert header == ["KEY", "CATEGORY", "VERSION", "PROVIDED BY"]
    return {row[0]: row[1:] for row in rows}


def test_plugins_lists_the_built_ins_with_their_distribution(run: Any) -> None:
    result = run("plugins")
    assert result.exit_code == 0, result.output
    rows = _plugin_rows(result.output)
    assert len(rows) == BUILT_IN_COUNT
    assert rows["email.condition"] == ["CONDITION", "1.0.0", f"sekvens {version('sekvens')}"]
    assert rows["linkedin.connect"][0] == "LINKEDIN"
    assert list(rows) == sorted(rows)
    assert "could not be loaded" not in result.output


def test_plugins_honours_disabled_step_types(run: Any) -> None:
    result = run("plugins", env={"SEKVENS_DISABLED_STEP_TYPES": "email.auto, core.wait"})
    rows = _plugin_rows(result.output)
    assert len(rows) == BUILT_IN_COUNT - 2
    assert "email.auto" not in rows and "core.wait" not in rows
    assert "disabled by SEKVENS_DISABLED_STEP_TYPES: email.auto, core.wait" in result.output


def test_plugins_lists_a_partner_plugin_and_load_errors(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A distribution whose entry point names a module that does not exist.
    broken = tmp_path / "broken-site" / "sekvens_broken-0.1.dist-info"
    broken.mkdir(parents=True)
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: sekvens-broken\nVersion: 0.1\n")
    (broken / "entry_points.txt").write_text(
        "[sekvens.step_types]\nbroken.step = sekvens_broken_missing:step\n"
    )
    monkeypatch.syspath_prepend(str(broken.parent))
    with installed_sms_example(tmp_path / "sms"):
        result = run("plugins")
    assert result.exit_code == 0, result.output
    rows = _plugin_rows(result.output)
    assert rows["sms.manual"] == ["STEP", "1.0.0", "sekvens-sms 1.0.0"]
    assert rows["sms.auto"] == ["STEP", "1.0.0", "sekvens-sms 1.0.0"]
    assert len(rows) == BUILT_IN_COUNT + 2
    assert "broken.step" not in rows
    errors = result.output.split("\n\n", 1)[1]
    assert errors.startswith("1 step type(s) could not be loaded:\n")
    assert "entry point 'broken.step' (sekvens_broken_missing:step) of sekvens-broken 0.1" in errors
    assert "ModuleNotFoundError" in errors
