"""`sekvens export` and `sekvens import`: a designed sequence moves with the CLI alone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from sekvens.app import create_app
from sekvens.cli import main
from sekvens.config import Settings
from sekvens.transfer.cli import export_command, import_command
from tests.conftest import Api
from tests.transfer.helpers import OWNER_TEAM, build_source

SEQUENCES = "{ sequences(orderBy: [{field: NAME}]) { nodes { name status key } } }"


class Environment:
    """A SQLite database driven by the CLI, with GraphQL for what the CLI does not do."""

    def __init__(self, path: Path, org: str):
        self.url = f"sqlite:///{path}"
        self.org = org
        self.runner = CliRunner()
        assert self.cli(main, "org", "create", org).exit_code == 0
        created = self.cli(
            main,
            *("user", "create", "--org", org, "--email", f"admin@{org.lower()}.example"),
            *("--name", "Admin", "--role", "SYSTEM_ADMINISTRATOR", "--token"),
        )
        assert created.exit_code == 0, created.output
        self.token = created.output.splitlines()[1]

    def cli(self, command: Any, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(
            command,
            list(args),
            env={
                "SEKVENS_DATABASE_URL": self.url,
                "SEKVENS_DISABLED_STEP_TYPES": "",
                **(env or {}),
            },
            catch_exceptions=False,
        )

    def api(self, work: Any) -> Any:
        """Run `await work(api)` with an Api for this environment's administrator."""

        async def call() -> Any:
            app = create_app(Settings(database_url=self.url))
            try:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
                ) as client:
                    db = app.state.services.db
                    return await work(Api(client, db, self.org, 0, self.token))
            finally:
                await app.state.services.db.dispose()

        return asyncio.run(call())


def test_a_sequence_moves_between_environments_with_the_cli(tmp_path: Path) -> None:
    source = Environment(tmp_path / "test.db", "Sandbox")
    target = Environment(tmp_path / "production.db", "Acme")
    built = source.api(build_source)
    out = tmp_path / "sequences.json"

    usage = source.cli(export_command, "--org", "Sandbox")
    assert usage.exit_code == 2 and "--sequence KEY, or give --all" in usage.stderr
    exported = source.cli(
        export_command,
        *("--org", "Sandbox", "--sequence", built["webinar"]["key"], "-o", str(out), "--quiet"),
        env={"SEKVENS_ENVIRONMENT": "test"},
    )
    assert exported.exit_code == 0, exported.output
    assert exported.stderr == f"exported 2 sequence(s) to {out}\n"
    document = json.loads(out.read_text("utf-8"))
    assert document["source"]["environment"] == "test"
    assert document["source"]["organization"] == "Sandbox"
    everything = source.cli(export_command, "--org", "Sandbox", "--all")
    assert json.loads(everything.stdout)["sequences"] == document["sequences"]

    # The target lacks the owning team: nothing is imported, the report says why.
    missing = target.cli(import_command, str(out), "--org", "Acme", "--activate")
    assert missing.exit_code == 1
    assert missing.stdout.startswith("nothing imported: 1 problem(s); 2 to create")
    assert missing.stderr == (
        "error: UNKNOWN_TEAM (teams.0.name): There is no team 'Key accounts' here; teams are"
        " never created by an import: create it (createTeam) first.\n"
    )
    assert target.api(lambda api: api.ok(SEQUENCES))["sequences"]["nodes"] == []

    async def create_team(api: Api) -> Any:
        return await api.mutate("createTeam", {"name": OWNER_TEAM, "kind": "OWNER"}, "team { id }")

    assert target.api(create_team)["errors"] == []
    dry = target.cli(import_command, str(out), "--org", "Acme", "--activate", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines()[0] == (
        "dry run, nothing written: 2 to create, 0 to update, 0 to skip, 0 to copy"
    )
    assert target.api(lambda api: api.ok(SEQUENCES))["sequences"]["nodes"] == []

    applied = target.cli(import_command, str(out), "--org", "Acme", "--activate")
    assert applied.exit_code == 0, applied.output
    lines = applied.stdout.splitlines()
    assert lines[0] == "imported: 2 created, 0 updated, 0 skipped, 0 copied"
    assert lines[1].split() == ["CREATE", built["nurture"]["key"], "Nurture", "(activated)"]
    assert lines[3].startswith("tags created: ")
    nodes = target.api(lambda api: api.ok(SEQUENCES))["sequences"]["nodes"]
    assert [(n["name"], n["status"], n["key"]) for n in nodes] == [
        ("Nurture", "ACTIVE", built["nurture"]["key"]),
        ("Webinar follow-up", "ACTIVE", built["webinar"]["key"]),
    ]

    again = target.cli(import_command, str(out), "--org", "Acme", "--activate", "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["applied"] is True
    assert [(s["action"], s["unchanged"]) for s in report["sequences"]] == [("SKIP", True)] * 2


def test_import_refuses_bad_files(tmp_path: Path) -> None:
    target = Environment(tmp_path / "target.db", "Acme")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json", "utf-8")
    result = target.cli(import_command, str(bad), "--org", "Acme")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: INVALID_DOCUMENT: The document is not JSON: ")

    big = tmp_path / "big.json"
    big.write_text(" " * 2000, "utf-8")
    result = target.cli(
        import_command, str(big), "--org", "Acme", env={"SEKVENS_MAX_IMPORT_BYTES": "1000"}
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: DOCUMENT_TOO_LARGE: The document is 2000 bytes, more than the 1000"
    )

    unknown = target.cli(import_command, str(bad), "--org", "Nope")
    assert unknown.exit_code == 1 and "no organization named 'Nope'" in unknown.stderr


@pytest.mark.parametrize("who", ["--as", "default"])
def test_the_cli_acts_as_an_administrator(tmp_path: Path, who: str) -> None:
    env = Environment(tmp_path / "db.db", "Acme")
    seller = env.cli(
        main,
        *("user", "create", "--org", "Acme", "--email", "s@acme.example", "--name", "S"),
        *("--role", "SALESPERSON"),
    )
    assert seller.exit_code == 0
    args = ["--as", "s@acme.example"] if who == "--as" else []
    result = env.cli(export_command, "--org", "Acme", "--all", *args)
    if who == "--as":  # a salesperson may not export
        assert result.exit_code == 1 and result.stderr.startswith("error: FORBIDDEN: ")
    else:  # the administrator may, but there is nothing to export
        assert result.exit_code == 1 and "'Acme' has no sequences" in result.stderr
