"""Jobs: operations too large for one request (connecting many records, a large import,
a large record sync) that run in chunks in the workers and report their progress."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    CONNECT_BY_FILTER = "CONNECT_BY_FILTER"
    IMPORT_SEQUENCES = "IMPORT_SEQUENCES"
    UPSERT_RECORDS = "UPSERT_RECORDS"


class JobStatus(StrEnum):
    #: Waiting for a worker.
    QUEUED = "QUEUED"
    #: A worker runs it, chunk by chunk (each chunk committed with the job's progress).
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    #: It stopped on an error that more chunks would not fix (`error` says which).
    FAILED = "FAILED"
    #: Someone cancelled it; the chunks done stay done.
    CANCELED = "CANCELED"
