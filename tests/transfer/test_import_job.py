"""importSequences as a job (docs/jobs.md): a large document, or `asJob`, returns a job at
once and a worker imports the whole document in one transaction, all or nothing, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from sekvens.storage.db import Database
from sekvens.storage.tables import Sequence, SequenceStep, SequenceVersion, Tag
from sekvens.transfer import import_job
from tests.api.sequences_helpers import simple_active
from tests.api.test_engine import seller
from tests.conftest import Api
from tests.engine.test_jobs import JOB, JOB_QUERY
from tests.transfer.helpers import export

IMPORT_JOB = f"errors {{ code field }} report {{ applied }} job {{ {JOB} }}"
RESULT = f"query($id: ID!) {{ job(id: $id) {{ {JOB} result errors {{ item code }} }} }}"


class Killed(BaseException):
    """A worker dying mid-import, not an error the job would catch."""


@pytest.fixture
async def jobs(app: Any) -> AsyncIterator[Any]:
    """The engine, with other tests' jobs done first (so the next round is this test's)."""
    engine = app.state.services.engine
    await engine.run_until_idle()
    yield engine


async def import_as_job(api: Api, document: Any, **extra: Any) -> dict[str, Any]:
    return await api.mutate(
        "importSequences", {"document": document, "mode": "APPLY", **extra}, IMPORT_JOB
    )


async def job_result(api: Api, job: dict[str, Any]) -> dict[str, Any]:
    return (await api.ok(RESULT, {"id": job["id"]}))["job"]


async def written(db: Database) -> dict[str, int]:
    """Rows of what an import writes."""
    async with db.session() as session:
        return {
            t.__tablename__: await session.scalar(select(func.count()).select_from(t)) or 0
            for t in (Sequence, SequenceVersion, SequenceStep, Tag)
        }


async def two_sequences(api: Api, prefix: str) -> dict[str, Any]:
    ids = [str((await simple_active(api, f"{prefix} {n}"))["id"]) for n in (1, 2)]
    return await export(api, ids)


async def test_an_import_job_imports_the_document_in_a_worker_round(
    api: Api, other_api: Api, jobs: Any
) -> None:
    document = await two_sequences(api, "Job import")
    before = await written(other_api.db)
    payload = await import_as_job(other_api, document, asJob=True, activate=True)
    job = payload["job"]
    assert (payload["errors"], payload["report"]) == ([], None)
    assert (job["kind"], job["status"], job["total"], job["done"]) == (
        "IMPORT_SEQUENCES",
        "QUEUED",
        2,
        0,
    )
    assert await written(other_api.db) == before  # nothing before a worker round

    assert await jobs.jobs.run_due() == 1
    done = await job_result(other_api, job)
    assert (done["status"], done["done"], done["skippedCount"], done["total"]) == (
        "SUCCEEDED",
        2,
        0,
        2,
    )
    report = done["result"]
    assert (report["applied"], report["mode"], report["activate"]) == (True, "APPLY", True)
    assert [(s["action"], s["activated"]) for s in report["sequences"]] == [("CREATE", True)] * 2
    for s in report["sequences"]:
        shown = await other_api.ok(
            "query($id: ID!) { sequence(id: $id) { name status } }", {"id": s["sequenceId"]}
        )
        assert shown["sequence"] == {"name": s["name"], "status": "ACTIVE"}

    # again: nothing changes, each sequence skipped
    again = (await import_as_job(other_api, document, asJob=True))["job"]
    await jobs.run_until_idle()
    skipped = await job_result(other_api, again)
    assert (skipped["status"], skipped["done"], skipped["skipped"]) == (
        "SUCCEEDED",
        0,
        [{"code": "SKIP", "count": 2}],
    )

    # over the threshold without asJob; at it, in the request
    monkeypatch = pytest.MonkeyPatch()
    try:
        monkeypatch.setattr(import_job, "JOB_THRESHOLD", 1)
        over = await import_as_job(other_api, document, onConflict="COPY")
        assert over["job"]["status"] == "QUEUED"
        monkeypatch.setattr(import_job, "JOB_THRESHOLD", 2)
        inline = await import_as_job(other_api, document, onConflict="COPY")
        assert (inline["job"], inline["report"]) == (None, {"applied": True})
    finally:
        monkeypatch.undo()
    await jobs.run_until_idle()
    assert (await job_result(other_api, over["job"]))["done"] == 2


async def test_an_import_job_with_a_problem_fails_and_writes_nothing(
    api: Api, other_api: Api, jobs: Any
) -> None:
    document = await two_sequences(api, "Bad job import")
    document["sequences"][1]["recordType"] = "no_such_type"
    before = await written(other_api.db)
    job = (await import_as_job(other_api, document, asJob=True))["job"]
    await jobs.run_until_idle()
    failed = await job_result(other_api, job)
    assert (failed["status"], failed["done"], failed["errorCount"]) == ("FAILED", 0, 1)
    assert failed["error"].startswith("The import has 1 problem(s), nothing was written:")
    assert "UNKNOWN_RECORD_TYPE at sequences.1.recordType" in failed["error"]
    assert failed["errors"] == [{"item": None, "code": "UNKNOWN_RECORD_TYPE"}]
    report = failed["result"]
    assert report["applied"] is False
    assert [p["path"] for p in report["problems"]] == [["sequences", "1", "recordType"]]
    assert await written(other_api.db) == before


async def test_a_dry_run_job_reports_and_writes_nothing(
    api: Api, other_api: Api, jobs: Any
) -> None:
    document = await two_sequences(api, "Dry job import")
    before = await written(other_api.db)
    job = (await import_as_job(other_api, document, asJob=True, mode="DRY_RUN"))["job"]
    await jobs.run_until_idle()
    done = await job_result(other_api, job)
    assert (done["status"], done["done"]) == ("SUCCEEDED", 2)
    report = done["result"]
    assert (report["applied"], report["mode"]) == (False, "DRY_RUN")
    assert [(s["action"], s["sequenceId"]) for s in report["sequences"]] == [("CREATE", None)] * 2
    assert await written(other_api.db) == before


async def test_an_interrupted_import_job_leaves_nothing_and_is_applied_once(
    api: Api, other_api: Api, jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = await two_sequences(api, "Killed job import")
    before = await written(other_api.db)
    job = (await import_as_job(other_api, document, asJob=True))["job"]
    real = import_job.import_document

    async def dies_after_writing(*args: Any, **kwargs: Any) -> Any:
        report = await real(*args, **kwargs)
        assert report.applied  # written, not committed
        raise Killed

    monkeypatch.setattr(import_job, "import_document", dies_after_writing)
    with pytest.raises(Killed):
        await jobs.jobs.run_due()
    assert await written(other_api.db) == before
    assert (await job_result(other_api, job))["status"] == "QUEUED"
    monkeypatch.setattr(import_job, "import_document", real)
    assert await jobs.jobs.run_due() == 1
    done = await job_result(other_api, job)
    assert (done["status"], done["done"]) == ("SUCCEEDED", 2)
    after = await written(other_api.db)
    assert after["sequences"] == before["sequences"] + 2
    async with other_api.db.session() as session:
        keys = [s["key"] for s in document["sequences"]]
        count = await session.scalar(
            select(func.count()).select_from(Sequence).where(Sequence.key.in_(keys))
        )
    assert count == 4  # once in each organization


async def test_who_sees_an_import_job(api: Api, other_api: Api, jobs: Any) -> None:
    document = await two_sequences(api, "Seen job import")
    _, manager_token = await other_api.user(["SEQUENCE_MANAGER"])
    _, seller_token = await seller(other_api, "importjob-seller@example.com")
    manager, bystander = other_api.as_token(manager_token), other_api.as_token(seller_token)
    refused = await import_as_job(bystander, document, asJob=True)
    assert ([e["code"] for e in refused["errors"]], refused["job"]) == (["FORBIDDEN"], None)
    job = (await import_as_job(manager, document, asJob=True))["job"]
    assert (await job_result(manager, job))["status"] == "QUEUED"
    assert (await job_result(other_api, job))["status"] == "QUEUED"  # an administrator
    for caller, code in ((bystander, "FORBIDDEN"), (api, "NOT_FOUND")):
        result = await caller.gql(JOB_QUERY, {"id": job["id"]})
        assert [e["extensions"]["code"] for e in result["errors"]] == [code]
    await jobs.run_until_idle()
    assert (await job_result(manager, job))["status"] == "SUCCEEDED"
