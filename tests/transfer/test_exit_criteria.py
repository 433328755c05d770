"""A sequence's exit criteria move with it (format version 3), are checked against the
receiving organization's record type, and a document without them means none."""

from __future__ import annotations

from typing import Any

from tests.api.sequences_helpers import simple_active
from tests.conftest import Api
from tests.transfer.helpers import codes, export, import_, ok, row_counts

CRITERIA = {
    "meetingBooked": True,
    "stages": ["Close"],
    "fieldConditions": [{"field": "rating", "operator": "IN", "value": ["Hot", "Warm"]}],
}
OPTIONS = """query($id: ID!) { sequence(id: $id) { options { exitCriteria {
  meetingBooked stages fieldConditions { field operator value } } } } }"""


async def with_criteria(api: Api, name: str) -> str:
    seq = await simple_active(api, name, activate=False)
    await ok(api, "setSequenceOptions", {"sequenceId": seq["id"], "exitCriteria": CRITERIA})
    await ok(api, "activateSequence", {"sequenceId": seq["id"]})
    return str(seq["id"])


async def test_exit_criteria_move_to_another_organization(api: Api, other_api: Api) -> None:
    document = await export(api, [await with_criteria(api, "Exits")])
    assert document["version"] == 4
    [entry] = document["sequences"]
    assert entry["options"]["exitCriteria"] == CRITERIA
    payload = await import_(other_api, document, activate=True)
    assert payload["errors"] == []
    imported = payload["report"]["sequences"][0]["sequence"]["id"]
    shown = (await other_api.ok(OPTIONS, {"id": imported}))["sequence"]["options"]
    assert shown["exitCriteria"] == CRITERIA
    assert (await export(other_api, [imported]))["sequences"][0]["options"] == entry["options"]
    again = await import_(other_api, document, activate=True)
    assert [(s["action"], s["unchanged"]) for s in again["report"]["sequences"]] == [("SKIP", True)]
    # none of its own: null; a document without them imports none
    plain = await export(api, [(await simple_active(api, "Plain"))["id"]])
    assert plain["sequences"][0]["options"]["exitCriteria"] is None
    del entry["options"]["exitCriteria"]
    entry["key"] = "no-criteria"
    payload = await import_(other_api, {**document, "version": 2})
    assert payload["errors"] == []
    imported = payload["report"]["sequences"][0]["sequence"]["id"]
    shown = (await other_api.ok(OPTIONS, {"id": imported}))["sequence"]["options"]
    assert shown["exitCriteria"] == {"meetingBooked": False, "stages": [], "fieldConditions": []}


async def test_bad_exit_criteria_import_nothing(api: Api, other_api: Api) -> None:
    document = await export(api, [await with_criteria(api, "Bad exits")])
    criteria: dict[str, Any] = document["sequences"][0]["options"]["exitCriteria"]
    criteria["stages"] = ["Close", "Won"]
    criteria["fieldConditions"].append({"field": "shoe_size", "operator": "IS_SET"})
    before = await row_counts(other_api.db)
    payload = await import_(other_api, document, activate=True)
    assert codes(payload) == [
        ("UNKNOWN_STAGE", "sequences.0.options.exitCriteria.stages.1"),
        ("UNKNOWN_FIELD", "sequences.0.options.exitCriteria.fieldConditions.1.field"),
    ]
    assert await row_counts(other_api.db) == before
    criteria["fieldConditions"] = [{"field": "rating", "operator": "LIKE"}]
    payload = await import_(other_api, document)
    assert codes(payload) == [
        ("INVALID_DOCUMENT", "sequences.0.options.exitCriteria.fieldConditions.0.operator")
    ]
