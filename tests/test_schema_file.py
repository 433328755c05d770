"""The committed schema.graphql is the SDL the code builds (as `sekvens schema` prints it)."""

from __future__ import annotations

import difflib
from pathlib import Path

from sekvens.graphql_schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    expected = build_schema().as_str() + "\n"  # `sekvens schema > schema.graphql` adds the newline
    committed = SCHEMA_FILE.read_text() if SCHEMA_FILE.exists() else ""
    if committed != expected:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "schema.graphql (committed)",
                "schema from the code",
                n=2,
            )
        )
        raise AssertionError(
            "schema.graphql differs from the schema the code builds; run `make schema` and "
            f"commit the result.\n{diff[:4000]}"
        )
