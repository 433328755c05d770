"""Building sequences and leads for the delivery and tracking tests, through GraphQL."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from sekvens.engine.delivery import Deliverer
from sekvens.storage.db import Database
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api
from tests.engine.conftest import unique_address

LINK = "https://example.com/pricing?plan=pro&seats=5"
AUTO = {
    "template": {
        "subject": "Hi {{ first_name }}",
        "body": f"Hello {{{{ first_name }}}}!\n\nOur prices: {LINK}.\nDocs (https://example.com/docs).",
    }
}
CONNECTION = (
    "id status reason error currentStepKey record { externalId } activities { subject status kind }"
)
OUTBOX = (
    "{ outbox(first: 100) { nodes { to fromAddress subject messageId status attempts lastError"
    " sentAt waitReason nextAttemptAt } } }"
)

#: The repository, where worker processes start.
ROOT = Path(__file__).resolve().parents[2]


async def seller(api: Api) -> tuple[str, str]:
    """A salesperson: (global user id, email)."""
    address = unique_address("seller")
    _, token = await api.user(["SALESPERSON"], email=address)
    me = await api.as_token(token).ok("{ viewer { user { id } } }")
    return me["viewer"]["user"]["id"], address


async def activate(api: Api, seq: dict[str, Any]) -> dict[str, Any]:
    payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    assert payload["errors"] == [], payload["errors"]
    return seq


async def email_then_task(api: Api) -> dict[str, Any]:
    """email.auto -> core.task."""
    seq = await create(api, "Mail then task")
    email = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
    await add(api, seq, email["id"], "core.task", {"subject": "Follow up"})
    return await activate(api, seq)


async def click_condition(api: Api) -> dict[str, Any]:
    """email.auto -> clicked a link? (2 days, advance immediately) -> YES task / NO task."""
    seq = await create(api, "Click condition")
    email = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
    config = {"events": ["LINK_CLICKED"], "days": 2, "advance_immediately": True}
    cond = (await add(api, seq, email["id"], "email.condition", config))["step"]
    await add(api, seq, cond["id"], "core.task", {"subject": "Clicked"}, branch="YES")
    await add(api, seq, cond["id"], "core.task", {"subject": "No click"}, branch="NO")
    return await activate(api, seq)


async def connect_leads(api: Api, seq: dict[str, Any], n: int = 1) -> list[str]:
    """Connect `n` new leads owned by a new seller; returns their email addresses."""
    owner_id, _ = await seller(api)
    addresses = [unique_address() for _ in range(n)]
    records = [
        {
            "recordType": "lead",
            "externalId": f"L{i}",
            "name": f"Lead {i}",
            "ownerUserId": owner_id,
            "fields": {"first_name": f"Ann{i}", "email": address},
        }
        for i, address in enumerate(addresses)
    ]
    payload = await api.mutate("upsertRecords", {"records": records}, "results { record { id } }")
    ids = [r["record"]["id"] for r in payload["results"]]
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": r} for r in ids]},
        "results { errors { code } }",
    )
    assert connected["errors"] == [] and all(r["errors"] == [] for r in connected["results"])
    return addresses


async def outbox(api: Api) -> dict[str, dict[str, Any]]:
    """The organization's outbox by recipient."""
    return {m["to"]: m for m in (await api.ok(OUTBOX))["outbox"]["nodes"]}


async def connections(api: Api, seq: dict[str, Any]) -> dict[str, dict[str, Any]]:
    data = await api.ok(
        f"query($f: ConnectionFilter) {{ connections(filter: $f) {{ nodes {{ {CONNECTION} }} }} }}",
        {"f": {"sequenceId": seq["id"]}},
    )
    return {c["record"]["externalId"]: c for c in data["connections"]["nodes"]}


async def queue_only(engine: Any) -> None:
    """Run the engine's steps without delivering: their automated emails stay QUEUED."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "deliverer", None)
        await engine.run_until_idle()


def deliverers_like(source: Deliverer, n: int, **options: Any) -> list[Deliverer]:
    """`n` more deliverers on `source`'s database, clock and SMTP server, as other workers'."""
    return [
        Deliverer(
            source.db,
            source.clock,
            source.smtp,
            mail_from=source.mail_from,
            signer=source.signer,
            **options,
        )
        for _ in range(n)
    ]


async def waiting_of(
    api: Api, seq: dict[str, Any], external_id: str
) -> tuple[Any, list[dict[str, Any]]]:
    """The `waiting` of the record's connection and the sequence's `stats.waiting`."""
    data = await api.ok(
        "query($f: ConnectionFilter, $id: ID!) {"
        " connections(filter: $f) { nodes { waiting { reason until }"
        " record { externalId } } }"
        " sequence(id: $id) { stats { waiting { reason count } } } }",
        {"f": {"sequenceId": seq["id"]}, "id": seq["id"]},
    )
    [conn] = [c for c in data["connections"]["nodes"] if c["record"]["externalId"] == external_id]
    return conn["waiting"], data["sequence"]["stats"]["waiting"]


async def spawn_worker(db: Database, **settings: str) -> asyncio.subprocess.Process:
    """A `sekvens worker` process on `db`, its stderr piped; `settings` are more SEKVENS_*
    variables (the caller's own SEKVENS_* are not passed on)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKVENS_")}
    env.update(
        SEKVENS_DATABASE_URL=db.settings.database_url,
        SEKVENS_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        **settings,
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sekvens.cli",
        "worker",
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
