"""The layers of docs/architecture.md hold: no import cycle, and the import-linter contracts
in pyproject.toml (run by `make lint`) fail when a module imports against them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's strongly connected components of the module graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def import_cycles(package: str) -> list[list[str]]:
    """The import cycles among `package`'s modules. Imports under `TYPE_CHECKING` are left
    out: they are not runtime imports (Strawberry types that name each other import each
    other only there and refer to each other through `strawberry.lazy`); imports inside
    functions count."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    return sorted(sorted(c) for c in strongly_connected(graph) if len(c) > 1)


def test_no_import_cycle() -> None:
    assert import_cycles("sekvens") == []


def test_a_runtime_cycle_is_found_a_type_only_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic import b\n")
    (package / "b.py").write_text("def f():\n    from cyclic import a\n")
    (package / "c.py").write_text("from cyclic import d\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from cyclic import c\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclic") == [["cyclic.a", "cyclic.b"]]


def _lint_imports(package_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=package_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_import_against_the_layers_fails_the_contracts(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "sekvens", tmp_path / "sekvens", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    kept = _lint_imports(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    (tmp_path / "sekvens" / "domain" / "against_the_layers.py").write_text(
        "from sekvens.schema import relay  # noqa: F401\n"
    )
    broken = _lint_imports(tmp_path)
    assert broken.returncode != 0
    assert "sekvens.domain.against_the_layers -> sekvens.schema.relay" in broken.stdout
