"""A process that runs one bulk mutation through the app and can be killed half-way:
`python -m tests.security.fault_script URL MODE STALL`.

MODE `upsert`: upsertRecords of 500 leads (external ids F0..F499) in a new organization.
MODE `import`: exports a sequence of a new organization and imports it into another.

It prints `ORG <id>` for the organization that receives the data, then, once the work is
done inside the transaction but not yet committed, `HALFWAY`. With STALL=1 it then stalls
(for a test to SIGKILL it); with STALL=0 it goes on, commits, and prints `DONE`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage.db import Database

RECORDS = 500


def halfway(stall: bool) -> Any:
    async def pause() -> None:
        print("HALFWAY", flush=True)
        if stall:
            await asyncio.sleep(600)

    return pause


def patch(mode: str, stall: bool) -> None:
    pause = halfway(stall)
    if mode == "upsert":
        from sekvens.storage import records

        original = records.upsert_records

        async def upsert(*args: Any, **kwargs: Any) -> Any:
            result = await original(*args, **kwargs)
            await pause()
            return result

        records.upsert_records = upsert  # type: ignore[assignment]
    else:
        from sekvens.resolvers import transfer

        original_import = transfer.import_document

        async def import_document(*args: Any, **kwargs: Any) -> Any:
            result = await original_import(*args, **kwargs)
            await pause()
            return result

        transfer.import_document = import_document  # type: ignore[assignment]


async def run(url: str, mode: str, stall: bool) -> None:
    from tests.conftest import new_org

    settings = Settings(database_url=url, rate_limit_per_second=0)
    db = Database(settings)
    app = create_app(settings, db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as client:
        target = await new_org(client, db)
        if mode == "upsert":
            print(f"ORG {target.org_id}", flush=True)
            patch(mode, stall)
            records = [{"recordType": "lead", "externalId": f"F{i}"} for i in range(RECORDS)]
            payload = await target.mutate("upsertRecords", {"records": records}, "createdCount")
        else:
            source = await new_org(client, db)
            seq = await source.mutate(
                "createSequence", {"name": "Moved"}, "sequence { id steps { id } }"
            )
            await source.mutate(
                "addStep",
                {
                    "sequenceId": seq["sequence"]["id"],
                    "afterStepId": seq["sequence"]["steps"][0]["id"],
                    "type": "core.task",
                    "config": {"subject": "Call"},
                },
                "step { id }",
            )
            exported = await source.mutate(
                "exportSequences", {"sequenceIds": [seq["sequence"]["id"]]}, "document"
            )
            print(f"ORG {target.org_id}", flush=True)
            patch(mode, stall)
            payload = await target.mutate(
                "importSequences",
                {"document": exported["document"], "mode": "APPLY"},
                "report { applied }",
            )
        assert payload["errors"] == [], payload["errors"]
        print("DONE", flush=True)
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], sys.argv[3] == "1"))
