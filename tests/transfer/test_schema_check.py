"""The compiled schema check gives jsonschema's verdict on every document, valid or not."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from sekvens.transfer.document import _validator, compiled_schema
from sekvens.transfer.schema_check import compile_schema

STEP = {
    "key": "k1",
    "type": "core.task",
    "name": "Call",
    "description": "",
    "config": {"subject": "Hi", "nested": [1, {"a": None}]},
    "parent": "k0",
    "branch": "NEXT",
}
DOCUMENT: dict[str, Any] = {
    "format": "sekvens.sequences",
    "version": 2,
    "exportedAt": "2026-11-27T06:55:33+00:00",
    "source": {"environment": None, "organization": "Sandbox", "sekvensVersion": "0.1.0"},
    "recordTypes": [
        {
            "name": "lead",
            "displayName": "Lead",
            "fields": [{"name": "email", "type": "EMAIL"}],
            "stages": ["Qualify"],
        }
    ],
    "teams": [{"name": "Key accounts", "kind": "OWNER"}],
    "sequences": [
        {
            "key": "s1",
            "name": "Webinar",
            "description": "After it",
            "recordType": "lead",
            "status": "ACTIVE",
            "isPersonal": False,
            "ownerTeam": "Key accounts",
            "assignment": {
                "assignTo": "RECORD_FIELD",
                "fieldName": "owner",
                "teamRoles": ["Account manager"],
                "userRoles": ["SALESPERSON"],
            },
            "options": {
                "exitOnReply": True,
                "skipNonWorkingTime": False,
                "skipOptedOutEmail": True,
                "sendWindow": {"weekdays": [1, 7], "start": "08:00", "end": "17:00"},
            },
            "tags": ["Campaigns", "Region/EMEA"],
            "stepTypes": {"core.task": {"version": "1.0.0", "package": "sekvens"}},
            "steps": [
                {"key": "k0", "type": "core.start", "parent": None, "branch": None},
                STEP,
            ],
        }
    ],
}

TEXTS = ["x" * n for n in (0, 1, 63, 64, 65, 100, 101, 160, 161, 200, 201, 403, 404, 2000, 2001)]
VALUES = st.sampled_from(
    [
        *TEXTS,
        "lead",
        "Lead",
        "9x",
        "a/b",
        "/a",
        "a/b/c/d/e",
        "2026-11-27T06:55:33Z",
        "2026-11-27 06:55:33",
        "sekvens.sequences",
        "NEXT",
        "MAYBE",
        "ACTIVE",
        "OWNER",
        "EMAIL",
        "RECORD_OWNER",
        "SALESPERSON",
        None,
        True,
        False,
        0,
        1,
        1.0,
        1.5,
        -1,
        2,
        7,
        7.0,
        7.5,
        8,
        "08:00",
        {"weekdays": [1], "start": "08:00", "end": "09:00"},
        [],
        {},
        ["a", "a"],
        ["a", 1],
        [1, True],
        [True, 1],
        ["SALESPERSON", "SALESPERSON"],
        copy.deepcopy(STEP),
    ]
)
NAMES = st.sampled_from(
    [
        "key",
        "name",
        "type",
        "parent",
        "branch",
        "config",
        "fields",
        "kind",
        "nmae",
        "",
        "x" * 101,
        "weekdays",
        "start",
        "sendWindow",
    ]
)


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _places(v, (*path, i))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """The document with one to three changes: a value replaced, a member removed or
    added, a list lengthened (to the schema's bounds too)."""
    doc: Any = copy.deepcopy(DOCUMENT)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_places(doc)))
        target = _at(doc, path)
        change = draw(st.sampled_from(["replace", "remove", "add", "lengthen"]))
        if change == "replace" or not path:
            if not path:
                continue
            _at(doc, path[:-1])[path[-1]] = copy.deepcopy(draw(VALUES))
        elif change == "remove" and isinstance(_at(doc, path[:-1]), dict):
            del _at(doc, path[:-1])[path[-1]]
        elif change == "add" and isinstance(target, dict):
            target[draw(NAMES)] = copy.deepcopy(draw(VALUES))
        elif change == "lengthen" and isinstance(target, list) and target:
            size = draw(st.sampled_from([2, 100, 101, 1000, 1001]))
            target.extend(copy.deepcopy(target[-1]) for _ in range(size - len(target)))
    return doc


def test_the_valid_document_is_valid() -> None:
    assert _validator().is_valid(DOCUMENT)
    assert compiled_schema()(DOCUMENT)


@settings(max_examples=400, deadline=None)
@given(documents())
def test_the_compiled_check_agrees_with_jsonschema(document: Any) -> None:
    assert compiled_schema()(document) == _validator().is_valid(document)


NUMBERS = st.one_of(
    st.integers(-3, 10),
    st.floats(-3, 10, allow_nan=False),
    st.booleans(),
    st.none(),
    st.sampled_from(["1", [1], {}]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["integer", "number", None]),
    st.one_of(st.none(), st.integers(-2, 8), st.floats(-2, 8, allow_nan=False)),
    st.one_of(st.none(), st.integers(-2, 8), st.floats(-2, 8, allow_nan=False)),
    NUMBERS,
)
def test_compiled_bounds_agree_with_jsonschema(
    type_: str | None, low: float | None, high: float | None, value: Any
) -> None:
    """minimum and maximum (a send window's weekdays are 1 to 7): inclusive, numbers only."""
    node: dict[str, Any] = {} if type_ is None else {"type": type_}
    if low is not None:
        node["minimum"] = low
    if high is not None:
        node["maximum"] = high
    assert compile_schema(node)(value) == Draft202012Validator(node).is_valid(value)
