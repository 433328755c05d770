"""Bad documents: each is a report with precise problems, and nothing is written."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.api.sequences_helpers import simple_active
from tests.conftest import Api
from tests.transfer.helpers import build_source, codes, export, import_, row_counts


@pytest.fixture
async def document(api: Api) -> dict[str, Any]:
    """A valid document of one sequence (start and a task)."""
    return await export(api, [(await simple_active(api, "Valid"))["id"]])


async def refused(api: Api, document: Any, **kw: Any) -> dict[str, Any]:
    """Import as APPLY; assert it wrote nothing and was not applied; return the payload."""
    before = await row_counts(api.db)
    payload = await import_(api, document, **kw)
    assert payload["report"]["applied"] is False
    assert payload["errors"], "a bad document must be reported"
    assert await row_counts(api.db) == before
    return payload


async def test_not_json(api: Api) -> None:
    payload = await refused(api, '{"format": "sekvens.sequences", "version": 1,')
    [problem] = payload["report"]["problems"]
    assert problem["code"] == "INVALID_DOCUMENT" and problem["path"] == []
    assert problem["message"].startswith("The document is not JSON: Expecting")
    assert "line 1, column" in problem["message"]
    # Not a document at all, and JSON that is not an object.
    assert codes(await refused(api, '{"hello": "world"}')) == [
        ("UNSUPPORTED_FORMAT_VERSION", "format")
    ]
    assert codes(await refused(api, "[1, 2]")) == [("INVALID_DOCUMENT", "")]
    # A member given twice is ambiguous.
    twice = '{"format": "sekvens.sequences", "format": "sekvens.sequences"}'
    assert codes(await refused(api, twice)) == [("DUPLICATE", "")]


async def test_text_and_object_documents_import_alike(api: Api, document: dict[str, Any]) -> None:
    as_text = await import_(api, json.dumps(document), mode="DRY_RUN")
    as_object = await import_(api, document, mode="DRY_RUN")
    assert as_text == as_object
    assert as_text["errors"] == []


async def test_schema_failures_name_their_place(api: Api, document: dict[str, Any]) -> None:
    bad = copy.deepcopy(document)
    del bad["sequences"][0]["name"]
    bad["sequences"][0]["steps"][1]["branch"] = "MAYBE"
    bad["sequences"][0]["steps"][1]["nmae"] = "typo"
    bad["sequences"][0]["description"] = "x" * 2001
    bad["sequences"][0]["tags"] = ["A/B/C/D/E"]
    payload = await refused(api, bad)
    assert codes(payload) == [
        ("INVALID_DOCUMENT", "sequences.0.description"),
        ("INVALID_DOCUMENT", "sequences.0.name"),
        ("INVALID_DOCUMENT", "sequences.0.steps.1.branch"),
        ("INVALID_DOCUMENT", "sequences.0.steps.1.nmae"),
        ("INVALID_DOCUMENT", "sequences.0.tags.0"),
    ]
    messages = [p["message"] for p in payload["report"]["problems"]]
    assert messages[0] == "At most 2000 characters."
    assert messages[1] == "'name' is required."
    assert messages[2] == 'Must be one of "NEXT", "YES", "NO", null.'
    assert messages[3].startswith("Unknown property 'nmae'; allowed: branch, config,")


async def test_a_newer_major_version(api: Api, document: dict[str, Any]) -> None:
    newer = {**document, "version": 5, "somethingNew": True}
    payload = await refused(api, newer)
    assert codes(payload) == [("UNSUPPORTED_FORMAT_VERSION", "version")]
    assert "format version 5; this sekvens reads version 4" in payload["errors"][0]["message"]


async def test_duplicate_keys(api: Api, document: dict[str, Any]) -> None:
    twice = copy.deepcopy(document)
    twice["sequences"].append(copy.deepcopy(twice["sequences"][0]))
    twice["sequences"][0]["steps"][1]["key"] = twice["sequences"][0]["steps"][0]["key"]
    payload = await refused(api, twice)
    assert codes(payload) == [
        ("DUPLICATE", "sequences.1.key"),
        ("DUPLICATE", "sequences.0.steps.1.key"),
    ]


async def test_an_advance_to_sequence_loop(api: Api) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    nurture, webinar = document["sequences"]
    nurture["steps"].append(
        {
            "key": "back",
            "type": "commands.advance_to_sequence",
            "config": {"sequence": webinar["key"]},
            "parent": "n-task",
            "branch": "NEXT",
        }
    )
    payload = await refused(api, document)
    assert codes(payload) == [("ADVANCE_CYCLE", "sequences.1.steps.7.config.sequence")]
    assert "'Nurture' → 'Webinar follow-up' → 'Nurture'" in payload["errors"][0]["message"]
    # A sequence that advances to itself.
    nurture["steps"][-1]["config"]["sequence"] = nurture["key"]
    payload = await refused(api, document)
    assert codes(payload) == [("ADVANCE_TARGETS_ITSELF", "sequences.0.steps.3.config.sequence")]


async def test_a_step_type_not_installed_or_too_old(api: Api, document: dict[str, Any]) -> None:
    missing = copy.deepcopy(document)
    entry = missing["sequences"][0]
    entry["steps"][1]["type"] = "sms.send"
    entry["stepTypes"]["sms.send"] = {"version": "1.0.0", "package": "sekvens-sms"}
    payload = await refused(api, missing)
    assert codes(payload) == [("UNKNOWN_STEP_TYPE", "sequences.0.steps.1.type")]
    assert "install sekvens-sms" in payload["errors"][0]["message"]

    too_old = copy.deepcopy(document)
    too_old["sequences"][0]["stepTypes"]["core.task"]["version"] = "1.10"
    payload = await refused(api, too_old)
    assert codes(payload) == [("PLUGIN_TOO_OLD", "sequences.0.stepTypes.core.task.version")]
    assert "version 1.0.0 here; the document needs 1.10 or newer" in payload["errors"][0]["message"]
    same = copy.deepcopy(document)
    same["sequences"][0]["stepTypes"]["core.task"]["version"] = "1.0"
    assert (await import_(api, same, mode="DRY_RUN"))["errors"] == []


async def test_a_broken_tree(api: Api, document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    broken["sequences"][0]["steps"][1]["parent"] = "nowhere"
    payload = await refused(api, broken)
    assert codes(payload) == [("INVALID_TREE", "sequences.0.steps.1")]


async def test_an_oversized_document_is_refused_before_parsing(
    api: Api, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = json.dumps(document)
    monkeypatch.setenv("SEKVENS_MAX_IMPORT_BYTES", str(len(text) - 1))
    payload = await refused(api, text)
    assert codes(payload) == [("DOCUMENT_TOO_LARGE", "")]
    assert f"is {len(text)} bytes, more than the {len(text) - 1}" in payload["errors"][0]["message"]
    # Not parsed: a huge text that is not JSON gets the same answer, not "not JSON".
    assert codes(await refused(api, "x" * len(text))) == [("DOCUMENT_TOO_LARGE", "")]
    # A document sent as a JSON object is measured too (as compact JSON).
    compact = len(json.dumps(document, separators=(",", ":")))
    monkeypatch.setenv("SEKVENS_MAX_IMPORT_BYTES", str(compact - 1))
    assert codes(await refused(api, document)) == [("DOCUMENT_TOO_LARGE", "")]
    monkeypatch.setenv("SEKVENS_MAX_IMPORT_BYTES", str(len(text)))
    assert (await import_(api, text, mode="DRY_RUN"))["errors"] == []
