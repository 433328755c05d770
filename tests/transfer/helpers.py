"""Sequences worth moving, the export and import mutations, row counts, a second environment."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage import migrate
from sekvens.storage.db import Database
from sekvens.storage.tables import Base
from tests.api.sequences_helpers import create
from tests.conftest import (
    POSTGRES_URL,
    Api,
    create_postgres_database,
    drop_postgres_database,
    new_org,
)

IMPORT_SELECTION = (
    "report { mode onConflict activate applied createdTags"
    " problems { code message path sequenceKey stepKey }"
    " sequences { index key name action unchanged newKey activated"
    " problems { code message path sequenceKey stepKey }"
    " sequence { id key name status draft { number } currentVersion { number } } } }"
)

OWNER_TEAM = "Key accounts"
#: The send window of 'Webinar follow-up', as an export writes it.
SEND_WINDOW = {"weekdays": [1, 3, 5], "start": "08:30", "end": "17:00"}
EMAIL = {"template": {"subject": "Hello {{ first_name }}", "body": "Hi {{ first_name }}!"}}


async def export(api: Api, ids: list[str], include_dependencies: bool = True) -> dict[str, Any]:
    payload = await api.mutate(
        "exportSequences",
        {"sequenceIds": ids, "includeDependencies": include_dependencies},
        "document",
    )
    assert payload["errors"] == [], payload["errors"]
    return payload["document"]


async def import_(
    api: Api,
    document: Any,
    mode: str = "APPLY",
    on_conflict: str = "UPDATE",
    activate: bool = False,
) -> dict[str, Any]:
    """The importSequences payload: `errors` and `report`."""
    return await api.mutate(
        "importSequences",
        {"document": document, "mode": mode, "onConflict": on_conflict, "activate": activate},
        IMPORT_SELECTION,
    )


def codes(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, dotted path) of every error of an import payload."""
    return [(e["code"], ".".join(e["field"][1:])) for e in payload["errors"]]


def without_environment(document: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(document)
    out.pop("exportedAt", None)
    out.pop("source", None)
    return out


async def row_counts(db: Database) -> dict[str, int]:
    """Rows in every table of the database."""
    async with db.session() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


async def set_steps(api: Api, seq: dict[str, Any], steps: list[dict[str, Any]]) -> None:
    start = next(s for s in seq["steps"] if s["type"] == "core.start")
    payload = await api.mutate(
        "setSequenceSteps",
        {
            "sequenceId": seq["id"],
            "steps": [{"key": start["key"], "type": "core.start"}, *steps],
        },
        "sequence { id }",
    )
    assert payload["errors"] == [], payload["errors"]


async def ok(api: Api, name: str, input: dict[str, Any], selection: str = "__typename") -> Any:
    payload = await api.mutate(name, input, selection)
    assert payload["errors"] == [], (name, payload["errors"])
    return payload


async def tag(api: Api, name: str, parent: str | None = None) -> str:
    payload = await ok(api, "createTag", {"name": name, "parentId": parent}, "tag { id }")
    return str(payload["tag"]["id"])


async def build_source(api: Api) -> dict[str, dict[str, Any]]:
    """Two active lead sequences: 'Webinar follow-up' (an email, a wait, an email condition,
    a call, an update-field command, a stage condition and an advance to 'Nurture'; a team
    assignment, exit on reply, skip opted-out email, its own send window, owned by a team, two
    tags) and 'Nurture' (tagged, with its own tag)."""
    team = await ok(api, "createTeam", {"name": OWNER_TEAM, "kind": "OWNER"}, "team { id }")
    team_id = team["team"]["id"]
    nordics = await tag(api, "Nordics", await tag(api, "EMEA", await tag(api, "Region")))
    campaigns = await tag(api, "Campaigns")
    nurture_tag = await tag(api, "Nurture", campaigns)

    nurture = await create(api, "Nurture", description="Keep in touch")
    await set_steps(
        api,
        nurture,
        [
            {
                "key": "n-email",
                "type": "email.manual",
                "config": EMAIL,
                "parentKey": nurture["steps"][0]["key"],
                "branch": "NEXT",
            },
            {
                "key": "n-task",
                "type": "core.task",
                "name": "Book a meeting",
                "config": {"subject": "Book a meeting"},
                "parentKey": "n-email",
                "branch": "NEXT",
            },
        ],
    )
    await ok(api, "setSequenceTags", {"sequenceId": nurture["id"], "tagIds": [nurture_tag]})
    await ok(api, "activateSequence", {"sequenceId": nurture["id"]})

    webinar = await create(api, "Webinar follow-up", description="After the webinar")
    start = webinar["steps"][0]["key"]
    await set_steps(
        api,
        webinar,
        [
            {
                "key": "w-email",
                "type": "email.auto",
                "name": "Thank you",
                "config": EMAIL,
                "parentKey": start,
                "branch": "NEXT",
            },
            {
                "key": "w-wait",
                "type": "core.wait",
                "config": {"days": 2},
                "parentKey": "w-email",
                "branch": "NEXT",
            },
            {
                "key": "w-opened",
                "type": "email.condition",
                "config": {"events": ["OPENED"], "days": 3},
                "parentKey": "w-wait",
                "branch": "NEXT",
            },
            {
                "key": "w-call",
                "type": "call.phone",
                "description": "Ask about a demo",
                "config": {"script": "Hi {{ first_name }}, about {{ company }}"},
                "parentKey": "w-opened",
                "branch": "YES",
            },
            {
                "key": "w-qualify",
                "type": "commands.update_field",
                "config": {"field": "qualified", "value": True},
                "parentKey": "w-call",
                "branch": "NEXT",
            },
            {
                "key": "w-stage",
                "type": "commands.stage_condition",
                "config": {"stages": ["Qualify"]},
                "parentKey": "w-opened",
                "branch": "NO",
            },
            # The source names the target by its global id; the export writes its key.
            {
                "key": "w-advance",
                "type": "commands.advance_to_sequence",
                "config": {"sequence": nurture["id"]},
                "parentKey": "w-stage",
                "branch": "YES",
            },
            {
                "key": "w-task",
                "type": "core.task",
                "config": {"subject": "Check in"},
                "parentKey": "w-stage",
                "branch": "NO",
            },
        ],
    )
    await ok(
        api,
        "setSequenceAssignment",
        {
            "sequenceId": webinar["id"],
            "assignTo": "OWNING_TEAM",
            "memberCondition": {"teamRoles": ["Account manager"]},
        },
    )
    await ok(
        api,
        "setSequenceOptions",
        {
            "sequenceId": webinar["id"],
            "exitOnReply": True,
            "skipOptedOutEmail": True,
            "sendWindow": {"weekdays": [5, 1, 3], "start": "08:30", "end": "17:00"},
        },
    )
    await ok(api, "assignSequenceOwner", {"sequenceId": webinar["id"], "teamId": team_id})
    await ok(api, "setSequenceTags", {"sequenceId": webinar["id"], "tagIds": [nordics, campaigns]})
    await ok(api, "activateSequence", {"sequenceId": webinar["id"]})
    return {"webinar": webinar, "nurture": nurture}


async def prepare_target(api: Api) -> None:
    """What an import needs and never creates: the owning team."""
    await ok(api, "createTeam", {"name": OWNER_TEAM, "kind": "OWNER"}, "team { id }")


@contextlib.asynccontextmanager
async def environment(url: str) -> AsyncIterator[Api]:
    """An administrator's Api on a fresh, migrated database at `url`."""
    database = Database(Settings(database_url=url))
    try:
        await migrate.upgrade(database.engine)
        app = create_app(database.settings, database)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
        ) as client:
            yield await new_org(client, database)
    finally:
        await database.dispose()


@contextlib.asynccontextmanager
async def other_backend(db: Database, tmp_path: Path) -> AsyncIterator[Api]:
    """A fresh environment on the backend that `db` is not: PostgreSQL for SQLite and back."""
    if not db.is_sqlite:
        async with environment(f"sqlite:///{tmp_path / 'other.db'}") as api:
            yield api
        return
    if not POSTGRES_URL:
        pytest.skip("SEKVENS_TEST_POSTGRES_URL is not set")
    url = await create_postgres_database(POSTGRES_URL)
    try:
        async with environment(url) as api:
            yield api
    finally:
        await drop_postgres_database(POSTGRES_URL, url)
