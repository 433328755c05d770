"""Installing the partner example examples/sekvens-sms for a test, the way a partner installs it.

`installed_sms_example(tmp)` runs `pip install --target` on a copy of the example and puts the
target first on sys.path, so `importlib.metadata.entry_points()` (and so
`Registry.from_entry_points()`) sees its step types; sys.path and sys.modules are restored after.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sekvens-sms"


def _sms_modules() -> dict[str, object]:
    return {
        name: module
        for name, module in sys.modules.items()
        if name == "sekvens_sms" or name.startswith("sekvens_sms.")
    }


@contextlib.contextmanager
def installed_sms_example(tmp: Path) -> Iterator[Path]:
    """Install a copy of the example under `tmp` (building in a copy keeps the source tree
    clean); yields the install target while it is importable."""
    source, target = tmp / "src", tmp / "site"
    shutil.copytree(
        EXAMPLE,
        source,
        ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache"
        ),
    )
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-deps", "--no-build-isolation", "--no-index", "--target", str(target)),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Without build isolation the build uses this environment's setuptools (>=70.1 builds wheels
    # by itself; older ones need the `wheel` package).
    assert result.returncode == 0, result.stdout + result.stderr
    saved = _sms_modules()  # e.g. imported from the source tree by the example's own tests
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in _sms_modules():
            del sys.modules[name]
        sys.modules.update(saved)
        importlib.invalidate_caches()
