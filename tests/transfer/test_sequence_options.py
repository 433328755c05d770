"""A sequence's skipOptedOutEmail and own send window move with it; documents without them
(format version 1) mean false and no window of its own; a bad window imports nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.api.sequences_helpers import simple_active
from tests.conftest import Api
from tests.transfer.helpers import SEND_WINDOW, codes, export, import_, ok, row_counts

OPTIONS = """query($id: ID!) { sequence(id: $id) { status options {
  exitOnReply skipOptedOutEmail sendWindow { weekdays start end } } } }"""
WINDOW = {"weekdays": [5, 1, 3], "start": "08:30", "end": "17:00"}


async def options_of(api: Api, sequence_id: str) -> dict[str, Any]:
    return dict((await api.ok(OPTIONS, {"id": sequence_id}))["sequence"]["options"])


async def with_options(api: Api, name: str, activate: bool = True, **options: Any) -> str:
    """A one-task sequence with these options (set while inactive), activated or not."""
    seq = await simple_active(api, name, activate=False)
    await ok(api, "setSequenceOptions", {"sequenceId": seq["id"], **options})
    if activate:
        await ok(api, "activateSequence", {"sequenceId": seq["id"]})
    return str(seq["id"])


async def test_the_options_move_to_another_organization(api: Api, other_api: Api) -> None:
    sequence_id = await with_options(api, "Windowed", skipOptedOutEmail=True, sendWindow=WINDOW)
    document = await export(api, [sequence_id])
    [entry] = document["sequences"]
    assert entry["options"]["skipOptedOutEmail"] is True
    assert entry["options"]["sendWindow"] == SEND_WINDOW  # weekdays sorted

    payload = await import_(other_api, document, activate=True)
    assert payload["errors"] == []
    [result] = payload["report"]["sequences"]
    assert (result["action"], result["activated"]) == ("CREATE", True)
    imported = result["sequence"]["id"]
    assert await options_of(other_api, imported) == {
        "exitOnReply": False,
        "skipOptedOutEmail": True,
        "sendWindow": SEND_WINDOW,
    }
    assert (await export(other_api, [imported]))["sequences"][0]["options"] == entry["options"]
    # Imported again: nothing differs, so nothing changes.
    again = await import_(other_api, document, activate=True)
    assert [(s["action"], s["unchanged"]) for s in again["report"]["sequences"]] == [("SKIP", True)]

    # A sequence without options of its own exports the defaults.
    plain = await export(api, [(await simple_active(api, "Plain"))["id"]])
    assert plain["sequences"][0]["options"]["skipOptedOutEmail"] is False
    assert plain["sequences"][0]["options"]["sendWindow"] is None


async def test_a_document_without_them_imports_with_the_defaults(api: Api, other_api: Api) -> None:
    """A version 1 document, exported before the options existed: a new sequence gets false
    and no window; an inactive one being replaced loses its own."""
    document = await export(api, [await with_options(api, "Old", activate=False)])
    old = copy.deepcopy(document)
    old["version"] = 1
    for entry in old["sequences"]:
        del entry["options"]["skipOptedOutEmail"], entry["options"]["sendWindow"]

    created = await import_(other_api, old)
    assert created["errors"] == []
    [result] = created["report"]["sequences"]
    assert result["action"] == "CREATE"
    target = result["sequence"]["id"]
    assert await options_of(other_api, target) == {
        "exitOnReply": False,
        "skipOptedOutEmail": False,
        "sendWindow": None,
    }

    await ok(
        other_api,
        "setSequenceOptions",
        {"sequenceId": target, "skipOptedOutEmail": True, "sendWindow": WINDOW},
    )
    replaced = await import_(other_api, old)
    assert replaced["errors"] == []
    assert [s["action"] for s in replaced["report"]["sequences"]] == ["UPDATE"]
    assert await options_of(other_api, target) == {
        "exitOnReply": False,
        "skipOptedOutEmail": False,
        "sendWindow": None,
    }
    # And the current document gives the inactive sequence both again.
    document["sequences"][0]["options"].update(skipOptedOutEmail=True, sendWindow=WINDOW)
    assert (await import_(other_api, document))["errors"] == []
    assert await options_of(other_api, target) == {
        "exitOnReply": False,
        "skipOptedOutEmail": True,
        "sendWindow": SEND_WINDOW,
    }


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (
            {"weekdays": [1, 2], "start": "17:00", "end": "08:00"},
            [("INVALID_VALUE", "sequences.1.options.sendWindow.start")],
        ),
        (
            {"weekdays": [1], "start": "9:00", "end": "24:00"},
            [
                ("INVALID_VALUE", "sequences.1.options.sendWindow.start"),
                ("INVALID_VALUE", "sequences.1.options.sendWindow.end"),
            ],
        ),
        (
            {"weekdays": [], "start": "08:00", "end": "17:00"},
            [("INVALID_VALUE", "sequences.1.options.sendWindow.weekdays")],
        ),
        (
            {"weekdays": [2, 2], "start": "08:00", "end": "17:00"},
            [("INVALID_VALUE", "sequences.1.options.sendWindow.weekdays")],
        ),
        # What the JSON Schema refuses is refused before anything else.
        (
            {"weekdays": [1, 8], "start": "08:00", "end": "17:00"},
            [("INVALID_DOCUMENT", "sequences.1.options.sendWindow.weekdays.1")],
        ),
        (
            {"weekdays": [1], "start": "08:00"},
            [("INVALID_DOCUMENT", "sequences.1.options.sendWindow.end")],
        ),
        (
            {"weekdays": [1], "start": "08:00", "end": "17:00", "zone": "UTC"},
            [("INVALID_DOCUMENT", "sequences.1.options.sendWindow.zone")],
        ),
    ],
)
async def test_a_bad_send_window_imports_nothing(
    api: Api, other_api: Api, window: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    first = await export(api, [(await simple_active(api, "First"))["id"]])
    second = await export(api, [(await simple_active(api, "Second"))["id"]])
    document = {**first, "sequences": first["sequences"] + second["sequences"]}
    document["sequences"][1]["options"]["sendWindow"] = window
    before = await row_counts(other_api.db)
    payload = await import_(other_api, document, activate=True)
    assert codes(payload) == expected
    assert payload["report"]["applied"] is False
    assert await row_counts(other_api.db) == before


async def test_an_active_sequence_keeps_its_options(api: Api, other_api: Api) -> None:
    """As for its other options, an import changes an active sequence's send window only
    while it is inactive (setSequenceOptions may change it while active)."""
    sequence_id = await with_options(api, "Running", sendWindow=WINDOW)
    document = await export(api, [sequence_id])
    assert (await import_(other_api, document, activate=True))["errors"] == []
    for change in ({"sendWindow": None}, {"skipOptedOutEmail": True}):
        changed = copy.deepcopy(document)
        changed["sequences"][0]["options"].update(change)
        payload = await import_(other_api, changed, activate=True)
        assert codes(payload) == [("SEQUENCE_ACTIVE", "sequences.0.options")]
