"""`importSequences` as a job (docs/jobs.md): a large document, or one sent with `asJob`, is
stored with a QUEUED job and imported by a worker.

The import stays all or nothing: the job's one chunk is the whole document, imported by
`import_document` (the request's code path) in the chunk's transaction. A worker killed
mid-import leaves nothing, and the next round imports the document again from the start; the
job's progress is written in the same transaction, so it is never applied twice. A document
with problems ends the job FAILED with its report; a DRY_RUN job reports what an APPLY would
do and writes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.jobs import JobKind, JobStatus
from sekvens.domain.roles import Actor
from sekvens.domain.transfer import ImportAction, ImportConflictPolicy, ImportMode
from sekvens.plugins.registry import Registry
from sekvens.storage.jobs import count_errors, new_job
from sekvens.storage.tables import Job
from sekvens.transfer.export import check_transfer_role
from sekvens.transfer.import_ import ImportReport, import_document

#: A document of more sequences than this is imported as a job (docs/jobs.md).
JOB_THRESHOLD = 200
#: Problems named in a FAILED import job's `error` (all are in its `result`).
ERROR_PROBLEMS = 3


def sequence_count(raw: Any, max_bytes: int) -> int | None:
    """How many sequences the document holds, or None when it can't be read (too large, not
    JSON, no list of sequences): the request then reports why, as it always has."""
    if isinstance(raw, bytes | str):
        if len(raw.encode() if isinstance(raw, str) else raw) > max_bytes:
            return None
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    sequences = raw.get("sequences") if isinstance(raw, dict) else None
    return len(sequences) if isinstance(sequences, list) else None


async def create_import_job(
    session: AsyncSession,
    actor: Actor,
    raw: Any,
    mode: ImportMode,
    on_conflict: ImportConflictPolicy,
    activate: bool,
    max_bytes: int,
    now: datetime,
) -> Job:
    """A QUEUED job holding the document (JSON text is stored as sent) and how to import it."""
    check_transfer_role(actor)
    data = {
        "document": raw.decode() if isinstance(raw, bytes) else raw,
        "mode": mode.value,
        "on_conflict": on_conflict.value,
        "activate": activate,
        "max_bytes": max_bytes,
    }
    total = sequence_count(raw, max_bytes)
    return await new_job(session, actor, JobKind.IMPORT_SEQUENCES, data, total, now)


class _NotApplied(Exception):
    """Rolls back what a DRY_RUN, or an import with problems, wrote."""


async def run_import(
    session: AsyncSession, registry: Registry, job: Job, actor: Actor, now: datetime
) -> bool:
    """Import the job's document in the current transaction (all of it, or nothing) and
    write its report on the job; an import with problems ends the job FAILED. Returns True:
    an import is one chunk."""
    data = job.input
    reports: list[ImportReport] = []
    try:
        async with session.begin_nested():
            report = await import_document(
                session,
                registry,
                actor,
                data["document"],
                mode=ImportMode(data["mode"]),
                on_conflict=ImportConflictPolicy(data["on_conflict"]),
                activate=bool(data["activate"]),
                max_bytes=int(data["max_bytes"]),
            )
            reports.append(report)
            if not report.applied:
                raise _NotApplied
    except _NotApplied:
        await session.refresh(job)  # as the savepoint's rollback left it
    report = reports[0]
    job.result = report.to_dict()
    if not report.ok:
        problems = report.all_problems()
        count_errors(
            job,
            [
                {"item": index, "code": p.code.value, "message": p.message, "field": list(p.path)}
                for index, p in problems
            ],
        )
        shown = "; ".join(
            f"{p.code.value} at {'.'.join(p.path) or 'document'}: {p.message}"
            for _, p in problems[:ERROR_PROBLEMS]
        )
        more = (
            f" (and {len(problems) - ERROR_PROBLEMS} more)"
            if len(problems) > ERROR_PROBLEMS
            else ""
        )
        job.status = JobStatus.FAILED
        job.error = f"The import has {len(problems)} problem(s), nothing was written: {shown}{more}"
        job.finished_at = job.heartbeat_at = now
        return True
    skipped = report.count(ImportAction.SKIP)
    job.done = len(report.sequences) - skipped
    job.skipped = {ImportAction.SKIP.value: skipped} if skipped else {}
    return True
