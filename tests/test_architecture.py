"""The layers of docs/architecture.md hold: no import cycle, and the import-linter contracts
in pyproject.toml (run by `make lint`) fail when a module imports against them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's components of the module graph (imports inside functions and under
    TYPE_CHECKING count as edges)."""
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


#: Strawberry types that name each other (a sequence lists its connections, a connection
#: names its sequence and record) import each other inside functions and under TYPE_CHECKING.
#: Not yet untangled (issue 13): this set may only shrink.
SCHEMA_TYPES_CYCLE = {
    "sekvens.schema.engine",
    "sekvens.schema.records",
    "sekvens.schema.sequences",
    "sekvens.schema.stats",
    "sekvens.schema.tags",
}


def test_no_import_cycle() -> None:
    graph = grimp.build_graph("sekvens", cache_dir=None)
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert [c for c in cycles if not set(c) <= SCHEMA_TYPES_CYCLE] == []


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
