"""The home grid's layout is kept per user and per view: read, saved, validated, private."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

PREFS = "view isDefault availableColumns columns { column visible width }"
DEFAULT_ORDER = [
    "NAME",
    "STATUS",
    "RECORD_TYPE",
    "OWNER",
    "TAGS",
    "IS_PERSONAL",
    "CREATED_AT",
    "MODIFIED_AT",
    "ACTIVE_CONNECTIONS",
    "STEP_COUNT",
]


async def read(api: Api, view: str | None = None) -> dict[str, Any]:
    if view is None:
        return (await api.ok(f"{{ gridPreferences {{ {PREFS} }} }}"))["gridPreferences"]
    data = await api.ok(
        f"query($v: String!) {{ gridPreferences(view: $v) {{ {PREFS} }} }}", {"v": view}
    )
    return data["gridPreferences"]


async def save(api: Api, columns: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return await api.mutate(
        "saveGridPreferences", {"columns": columns, **extra}, f"preferences {{ {PREFS} }}"
    )


async def test_defaults_when_nothing_is_saved(api: Api) -> None:
    prefs = await read(api)
    assert prefs["view"] == "sequences" and prefs["isDefault"] is True
    assert prefs["availableColumns"] == DEFAULT_ORDER
    assert [c["column"] for c in prefs["columns"]] == DEFAULT_ORDER
    assert all(c["visible"] for c in prefs["columns"][:-1])
    assert prefs["columns"][-1] == {"column": "STEP_COUNT", "visible": False, "width": None}
    assert await read(api, "sequences") == prefs


async def test_save_and_read_back(api: Api) -> None:
    saved = await save(
        api,
        [
            {"column": "STATUS", "width": 120},
            {"column": "NAME", "visible": True, "width": 320},
            {"column": "OWNER", "visible": False},
            {"column": "STEP_COUNT", "visible": True, "width": 80},
        ],
    )
    assert saved["errors"] == []
    prefs = saved["preferences"]
    assert prefs["isDefault"] is False
    assert prefs["columns"][:4] == [
        {"column": "STATUS", "visible": True, "width": 120},
        {"column": "NAME", "visible": True, "width": 320},
        {"column": "OWNER", "visible": False, "width": None},
        {"column": "STEP_COUNT", "visible": True, "width": 80},
    ]
    # The columns left out follow, hidden, in their default order.
    assert [c["column"] for c in prefs["columns"][4:]] == [
        c for c in DEFAULT_ORDER if c not in ("STATUS", "NAME", "OWNER", "STEP_COUNT")
    ]
    assert not any(c["visible"] for c in prefs["columns"][4:])
    assert await read(api) == prefs

    # Saving again replaces the layout; an empty list restores the default.
    again = await save(api, [{"column": "NAME", "width": 200}])
    assert again["preferences"]["columns"][0] == {"column": "NAME", "visible": True, "width": 200}
    assert (await read(api))["columns"][0]["width"] == 200
    reset = await save(api, [])
    assert reset["errors"] == [] and reset["preferences"]["isDefault"] is True
    assert [c["column"] for c in (await read(api))["columns"]] == DEFAULT_ORDER


async def test_validation_names_the_field(api: Api) -> None:
    await save(api, [{"column": "OWNER", "width": 150}])
    refused = await save(
        api,
        [
            {"column": "NAME", "width": 39},
            {"column": "BUDGET"},
            {"column": "NAME"},
            {"column": "STATUS", "width": 2001},
            {"column": "TAGS", "width": 2000},
            {"column": "OWNER", "width": 40},
        ],
    )
    assert refused["preferences"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("INVALID_VALUE", ["columns", "0", "width"]),
        ("INVALID_VALUE", ["columns", "1", "column"]),
        ("DUPLICATE", ["columns", "2", "column"]),
        ("INVALID_VALUE", ["columns", "3", "width"]),
    ]
    assert "NAME" in refused["errors"][1]["message"]
    hidden = await save(api, [{"column": "NAME", "visible": False}])
    assert [(e["code"], e["field"]) for e in hidden["errors"]] == [("INVALID_VALUE", ["columns"])]
    view = await save(api, [{"column": "NAME"}], view="spaceships")
    assert [(e["code"], e["field"]) for e in view["errors"]] == [("INVALID_VALUE", ["view"])]
    # A refused save writes nothing: the layout saved before stands.
    assert (await read(api))["columns"][0] == {"column": "OWNER", "visible": True, "width": 150}

    body = await api.gql('{ gridPreferences(view: "spaceships") { view } }')
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VALUE"


async def test_each_user_sees_only_their_own(api: Api, other_api: Api) -> None:
    _, seller_token = await api.user(["SALESPERSON"])
    seller = api.as_token(seller_token)
    assert (await save(seller, [{"column": "MODIFIED_AT", "width": 90}]))["errors"] == []
    assert (await save(api, [{"column": "TAGS", "width": 400}]))["errors"] == []

    assert (await read(seller))["columns"][0] == {
        "column": "MODIFIED_AT",
        "visible": True,
        "width": 90,
    }
    assert (await read(api))["columns"][0] == {"column": "TAGS", "visible": True, "width": 400}
    assert (await read(other_api))["isDefault"] is True
    _, manager_token = await api.user(["SEQUENCE_MANAGER"])
    assert (await read(api.as_token(manager_token)))["isDefault"] is True


async def test_needs_a_signed_in_user(api: Api) -> None:
    body = await api.gql("{ gridPreferences { view } }", token=None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    refused = await api.mutate(
        "saveGridPreferences", {"columns": [{"column": "NAME"}]}, "preferences { view }", token=None
    )
    assert [e["code"] for e in refused["errors"]] == ["UNAUTHENTICATED"]
