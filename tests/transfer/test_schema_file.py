"""The JSON Schema published in docs/ is the one imports validate against."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from sekvens.transfer.document import FORMAT, VERSION, schema, schema_text

DOCS = Path(__file__).resolve().parents[2] / "docs" / "transfer.schema.json"


def test_the_published_schema_is_the_packaged_one() -> None:
    assert DOCS.read_text("utf-8") == schema_text(), (
        "docs/transfer.schema.json differs from sekvens/transfer/document.schema.json:"
        " copy the package's file over it"
    )


def test_the_schema_is_a_valid_json_schema_of_this_version() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema()["properties"]["format"] == {
        "description": "Always 'sekvens.sequences'.",
        "const": FORMAT,
    }
    # Every version up to this one is read.
    assert schema()["properties"]["version"]["enum"] == list(range(1, VERSION + 1))
