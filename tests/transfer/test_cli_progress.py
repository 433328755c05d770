"""`sekvens export` and `sekvens import` draw a progress bar of the sequences on stderr (a line
per step when stderr is no terminal, one redrawn line on a terminal); --quiet leaves it out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from sekvens.progress import ProgressBar
from sekvens.transfer.cli import export_command, import_command
from tests.conftest import Api
from tests.transfer.helpers import OWNER_TEAM, build_source
from tests.transfer.test_cli import Environment


def bars(stderr: str, label: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(label + " [")]


def test_export_and_import_show_their_progress(tmp_path: Path) -> None:
    source = Environment(tmp_path / "source.db", "Sandbox")
    target = Environment(tmp_path / "target.db", "Acme")
    built = source.api(build_source)
    out = tmp_path / "sequences.json"

    # Webinar follow-up advances to Nurture: the total grows as the dependency turns up.
    exported = source.cli(
        export_command, "--org", "Sandbox", "--sequence", built["webinar"]["key"], "-o", str(out)
    )
    assert exported.exit_code == 0, exported.output
    assert bars(exported.stderr, "export") == [
        "export [###############...............]  50% 1/2",
        "export [##############################] 100% 2/2",
    ]
    assert exported.stderr.endswith(f"exported 2 sequence(s) to {out}\n")
    to_stdout = source.cli(export_command, "--org", "Sandbox", "--all")
    assert json.loads(to_stdout.stdout)["sequences"] == json.loads(out.read_text())["sequences"]
    assert bars(to_stdout.stderr, "export")[-1].endswith("100% 2/2")

    async def create_team(api: Api) -> Any:
        return await api.mutate("createTeam", {"name": OWNER_TEAM, "kind": "OWNER"}, "team { id }")

    assert target.api(create_team)["errors"] == []
    imported = target.cli(import_command, str(out), "--org", "Acme", "--activate")
    assert imported.exit_code == 0, imported.output
    assert bars(imported.stderr, "import") == [
        "import [###############...............]  50% 1/2",
        "import [##############################] 100% 2/2",
    ]
    assert imported.stdout.startswith("imported: 2 created")

    quiet = target.cli(import_command, str(out), "--org", "Acme", "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert (quiet.stderr, quiet.stdout.splitlines()[0]) == (
        "",
        "imported: 0 created, 0 updated, 2 skipped, 0 copied",
    )
    assert source.cli(export_command, "--org", "Sandbox", "--all", "-q").stderr == ""


def test_on_a_terminal_the_bar_is_redrawn(capsys: pytest.CaptureFixture[str]) -> None:
    bar = ProgressBar("import", tty=True)
    for done in range(1, 5):
        bar(done, 4)
    bar.close()
    click.echo("after", err=True)
    err = capsys.readouterr().err
    assert err.split("\r")[1:] == [
        "import [#######.......................]  25% 1/4",
        "import [###############...............]  50% 2/4",
        "import [######################........]  75% 3/4",
        "import [##############################] 100% 4/4\nafter\n",
    ]
