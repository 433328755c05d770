"""`stepTypes`: the built-in step types, their JSON Schemas, and a partner's installed ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from sekvens.app import create_app
from sekvens.plugins.registry import Registry
from sekvens.storage.db import Database
from tests.conftest import Api, new_org
from tests.sms_example import installed_sms_example

STEP_TYPES = """
query($category: StepCategory) {
  stepTypes(category: $category) {
    key category displayName description version branches activityKind automatic configSchema
    provider { distribution version }
  }
}
"""

BUILT_INS = {
    "core.start": "STEP",
    "core.task": "STEP",
    "core.wait": "STEP",
    "email.manual": "STEP",
    "email.auto": "STEP",
    "email.condition": "CONDITION",
    "call.phone": "STEP",
    "call.condition": "CONDITION",
    "linkedin.research": "LINKEDIN",
    "linkedin.get_introduced": "LINKEDIN",
    "linkedin.connect": "LINKEDIN",
    "linkedin.inmail": "LINKEDIN",
    "commands.field_condition": "COMMAND",
    "commands.stage_condition": "COMMAND",
    "commands.update_field": "COMMAND",
    "commands.advance_to_sequence": "COMMAND",
}


async def step_types(api: Api, category: str | None = None) -> list[dict[str, Any]]:
    return (await api.ok(STEP_TYPES, {"category": category}))["stepTypes"]


async def test_the_sixteen_built_ins_with_valid_json_schemas(api: Api) -> None:
    types = await step_types(api)
    assert [t["key"] for t in types] == sorted(BUILT_INS)
    sekvens = {"distribution": "sekvens", "version": version("sekvens")}
    for t in types:
        assert t["category"] == BUILT_INS[t["key"]], t["key"]
        assert t["provider"] == sekvens, t["key"]
        assert t["displayName"] and t["description"] and t["version"], t["key"]
        schema = t["configSchema"]
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object", t["key"]
    by_key = {t["key"]: t for t in types}
    assert by_key["core.start"]["displayName"] == "Sequence starts here"
    assert by_key["email.condition"]["branches"] == ["YES", "NO"]
    assert by_key["commands.advance_to_sequence"]["branches"] == []
    assert by_key["call.phone"] | {"configSchema": None, "description": None} == {
        "key": "call.phone",
        "category": "STEP",
        "displayName": "Phone call",
        "description": None,
        "version": "1.0.0",
        "branches": ["NEXT"],
        "activityKind": "CALL",
        "automatic": False,
        "configSchema": None,
        "provider": sekvens,
    }
    assert by_key["email.auto"]["automatic"] is True
    assert "template" in by_key["email.auto"]["configSchema"]["properties"]


async def test_category_filter(api: Api) -> None:
    for category in ("STEP", "CONDITION", "COMMAND", "LINKEDIN"):
        keys = [t["key"] for t in await step_types(api, category)]
        assert keys == sorted(k for k, c in BUILT_INS.items() if c == category), category
        assert keys


async def test_step_types_need_a_viewer(api: Api) -> None:
    body = await api.gql(STEP_TYPES, token=None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.fixture
def sms_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Function-scoped: no app built by another test may see the example installed.
    with installed_sms_example(tmp_path_factory.mktemp("sekvens-sms")) as target:
        yield target


@pytest.fixture
async def partner_api(sms_installed: Path, db: Database) -> AsyncIterator[Api]:
    """An administrator of a new organization on an app whose registry was loaded from entry
    points while the SMS example was installed (and with `email.auto` switched off)."""
    registry = Registry.from_entry_points(disabled=["email.auto"])
    app = create_app(db.settings, db, registry)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as client:
        yield await new_org(client, db)


async def test_an_installed_partner_plugin_shows_its_step_types(partner_api: Api) -> None:
    types = {t["key"]: t for t in await step_types(partner_api)}
    assert set(types) == (set(BUILT_INS) - {"email.auto"}) | {"sms.manual", "sms.auto"}
    for key in ("sms.manual", "sms.auto"):
        assert types[key]["provider"] == {"distribution": "sekvens-sms", "version": "1.0.0"}
        assert types[key]["category"] == "STEP"
        Draft202012Validator.check_schema(types[key]["configSchema"])
        assert types[key]["configSchema"]["required"] == ["text"]
    assert types["sms.manual"]["activityKind"] == "TASK"
    assert types["sms.auto"]["automatic"] is True
    steps = [t["key"] for t in await step_types(partner_api, "STEP")]
    assert {"sms.manual", "sms.auto"} <= set(steps)
