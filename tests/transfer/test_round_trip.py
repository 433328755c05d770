"""Export -> import into a fresh database of the other backend -> export: the same document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sekvens.storage.db import Database
from tests.conftest import Api, new_org
from tests.transfer.helpers import (
    build_source,
    export,
    import_,
    other_backend,
    prepare_target,
    without_environment,
)


async def _move(document: dict[str, Any], target: Api) -> dict[str, Any]:
    """Import `document` into `target` with activation; export the same sequences there."""
    await prepare_target(target)
    payload = await import_(target, document, activate=True)
    assert payload["errors"] == [], payload["errors"]
    report = payload["report"]
    assert report["applied"] is True
    assert [(s["action"], s["activated"]) for s in report["sequences"]] == [
        ("CREATE", True),
        ("CREATE", True),
    ]
    assert all(s["sequence"]["status"] == "ACTIVE" for s in report["sequences"])
    assert sorted(report["createdTags"]) == [
        "Campaigns",
        "Campaigns/Nurture",
        "Region",
        "Region/EMEA",
        "Region/EMEA/Nordics",
    ]
    ids = [s["sequence"]["id"] for s in report["sequences"]]
    return await export(target, ids)


async def test_round_trip_to_the_other_backend_and_back(
    api: Api, db: Database, tmp_path: Path
) -> None:
    source = await build_source(api)
    first = await export(api, [source["webinar"]["id"]])
    async with other_backend(db, tmp_path) as there:
        second = await _move(first, there)
        assert second["source"]["organization"] == there.org
        assert without_environment(second) == without_environment(first)
    # And back: into a fresh organization of the first backend.
    back = await new_org(api.http, api.db)
    third = await _move(second, back)
    assert without_environment(third) == without_environment(first)
