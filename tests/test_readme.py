"""The README stays true to the code: every `SEKVENS_*` variable the package reads is documented,
and every `make` target it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
VARIABLE = re.compile(r"SEKVENS_[A-Z_]+")


def variables_in_package() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "sekvens").rglob("*.py"):
        names.update(VARIABLE.findall(path.read_text(encoding="utf-8")))
    return names


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets: set[str] = set()
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\- ]+):(?!=)", line)
        if match:
            targets.update(match.group(1).split())
    return {t for t in targets if not t.startswith(".")}


def test_every_variable_the_package_reads_is_in_the_readme() -> None:
    found = variables_in_package()
    assert "SEKVENS_DATABASE_URL" in found  # the scan works
    missing = sorted(name for name in found if f"`{name}`" not in README)
    assert not missing, f"README.md does not document: {', '.join(missing)}"


def test_every_make_target_in_the_readme_exists() -> None:
    # `make x` in backticks, or a command line of a code block (after any VAR=value).
    named = set(re.findall(r"(?:^|`|=\S* )make ([a-z][a-z0-9_-]*)", README, re.MULTILINE))
    assert {"run", "test"} <= named  # the two fresh-machine commands stay in the README
    unknown = sorted(named - makefile_targets())
    assert not unknown, f"README.md names make targets the Makefile lacks: {', '.join(unknown)}"
