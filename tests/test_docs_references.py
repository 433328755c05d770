"""The docs name the tests behind their claims; every test they name exists: a file
`tests/...py` (of the project or of an example package) and, written `file::name`, a test
function of that name in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"\btests/[A-Za-z0-9_/]+\.py(?:::[A-Za-z0-9_]+)?")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_test_the_docs_name_exists() -> None:
    examples = [p for p in (ROOT / "examples").iterdir() if p.is_dir()]
    found, missing = 0, []
    for doc in documents():
        for reference in REFERENCE.findall(doc.read_text(encoding="utf-8")):
            found += 1
            path, _, name = reference.partition("::")
            files = [base / path for base in (ROOT, *examples) if (base / path).is_file()]
            if not files:
                missing.append(f"{doc.name}: {reference} (no such file)")
            elif name and not any(
                re.search(rf"^(?:async )?def {name}\(", f.read_text(encoding="utf-8"), re.M)
                for f in files
            ):
                missing.append(f"{doc.name}: {reference} (no such test)")
    assert found > 20  # the scan works
    assert not missing, "\n".join(missing)
