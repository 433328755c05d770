"""`sekvens job watch ID` follows a job with a progress bar until it ends (docs/jobs.md)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.engine import processes
from tests.test_cli import run  # noqa: F401


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


async def _gql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert not payload.get("errors"), payload
    return payload


def start_jobs(database_url: str, token: str, leads: int) -> tuple[str, str]:
    """Two connect jobs over `leads` records: one to run, one cancelled; their ids."""

    async def call() -> tuple[str, str]:
        app = create_app(Settings(database_url=database_url))
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://sekvens.test",
                headers=headers,
            ) as client:
                records = [
                    {"recordType": "lead", "externalId": f"L{i}", "name": f"Lead {i}"}
                    for i in range(leads)
                ]
                await _gql(
                    client,
                    "mutation($r: [RecordInput!]!) { upsertRecords(input: {records: $r})"
                    " { errors { code } } }",
                    r=records,
                )
                ids = []
                for name in ("Watched", "Cancelled"):
                    seq = await _gql(
                        client,
                        "mutation($n: String!) { createSequence(input: {name: $n})"
                        " { errors { code } sequence { id steps { id type } } } }",
                        n=name,
                    )
                    sequence = seq["sequence"]
                    start = next(s["id"] for s in sequence["steps"] if s["type"] == "core.start")
                    await _gql(
                        client,
                        "mutation($s: ID!, $a: ID!) { addStep(input: {sequenceId: $s,"
                        ' afterStepId: $a, type: "core.task", config: {subject: "Call"}})'
                        " { errors { code } } }",
                        s=sequence["id"],
                        a=start,
                    )
                    await _gql(
                        client,
                        "mutation($s: ID!) { activateSequence(input: {sequenceId: $s})"
                        " { errors { code } } }",
                        s=sequence["id"],
                    )
                    job = await _gql(
                        client,
                        "mutation($s: ID!) { connectSequenceByFilter(input: {sequenceId: $s,"
                        ' filter: {recordType: "lead"}, asJob: true}) { errors { code }'
                        " job { id } } }",
                        s=sequence["id"],
                    )
                    ids.append(job["job"]["id"])
                await _gql(
                    client,
                    "mutation($j: ID!) { cancelJob(input: {id: $j}) { errors { code } } }",
                    j=ids[1],
                )
                return ids[0], ids[1]
        finally:
            await app.state.services.db.dispose()

    return asyncio.run(call())


def test_job_watch_shows_the_progress_until_the_job_ends(run: Any, database_url: str) -> None:  # noqa: F811
    run("org", "create", "Acme")
    created = run(
        *("user", "create", "--org", "Acme", "--email", "a@acme.example", "--name", "A"),
        *("--role", "SYSTEM_ADMINISTRATOR", "--token"),
    )
    token = created.output.splitlines()[1]
    watched, cancelled = start_jobs(database_url, token, 25)

    settings = Settings(database_url=database_url, auto_migrate=False)
    worker = threading.Thread(target=lambda: asyncio.run(processes.run_worker(settings, True)))
    worker.start()
    try:
        result = run("job", "watch", watched, "--interval", "0.05")
    finally:
        worker.join()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-2].startswith("SUCCEEDED [" + "#" * 30 + "] 100% 25/25 done 25 skipped 0")
    assert lines[-1].startswith("SUCCEEDED after ")
    assert all("[" in line for line in lines[:-1])  # a bar on every progress line

    canceled = run("job", "watch", cancelled)
    assert canceled.exit_code == 1
    assert canceled.output.splitlines()[0].startswith("CANCELED  [" + "." * 30 + "]   0% 0/25")
    missing = run("job", "watch", "999999")
    assert (missing.exit_code, missing.output) == (1, "Error: no job 999999\n")
