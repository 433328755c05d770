"""exportSequences and importSequences: sequences between environments, as documents."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain import sequence_access as access
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.errors import UserError
from sekvens.schema.jobs import Job
from sekvens.schema.relay import decode_id
from sekvens.schema.transfer import (
    ExportSequencesInput,
    ExportSequencesPayload,
    ImportReport,
    ImportSequencesInput,
    ImportSequencesPayload,
)
from sekvens.transfer import import_job
from sekvens.transfer.document import environment_name, max_import_bytes
from sekvens.transfer.export import export_document, sequences_by_id
from sekvens.transfer.import_ import ImportReport as ImportReportValue
from sekvens.transfer.import_ import import_document


class _NotApplied(DomainError):
    """A DRY_RUN, or an import with problems: `mutate` rolls it back; the report stays."""

    def __init__(self, report: ImportReportValue):
        super().__init__(
            [Problem(p.code, p.message, ("document", *p.path)) for _, p in report.all_problems()]
        )


def _report_errors(report: ImportReportValue) -> list[UserError]:
    return [
        UserError(code=p.code, message=p.message, field=["document", *p.path], index=index)
        for index, p in report.all_problems()
    ]


@strawberry.type
class TransferMutations:
    @strawberry.mutation(
        description="Sequences with what they depend on, as a document for importSequences"
        " elsewhere. Administrators and sequence managers only."
    )
    async def export_sequences(
        self, info: Info, input: ExportSequencesInput
    ) -> ExportSequencesPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            ids = [
                decode_id(g, "Sequence", ["sequenceIds", str(i)])
                for i, g in enumerate(input.sequence_ids)
            ]
            if not ids:
                raise DomainError.of(
                    ErrorCode.REQUIRED, "Name at least one sequence.", ["sequenceIds"]
                )
            rows = await sequences_by_id(ctx.session, viewer, ids)
            document = await export_document(
                ctx.session,
                ctx.services.registry,
                viewer,
                rows,
                input.include_dependencies,
                environment_name(ctx.settings),
            )
            return {"document": document}

        return await mutate(info, ExportSequencesPayload, run, access.SEQUENCE_ADMINS)

    @strawberry.mutation(
        description="Import a sequences document: all or nothing, sequences matched by their"
        " stable key; over 200 sequences, or with asJob, as a job (docs/jobs.md)."
        " Administrators and sequence managers only."
    )
    async def import_sequences(
        self, info: Info, input: ImportSequencesInput
    ) -> ImportSequencesPayload:
        done: list[ImportReportValue] = []

        def payload(errors: list[UserError], job: Job | None = None) -> ImportSequencesPayload:
            if not done:  # refused before the import ran (role, feature), or a job
                return ImportSequencesPayload(errors=errors, job=job)
            return ImportSequencesPayload(
                errors=_report_errors(done[0]), report=ImportReport.of(done[0])
            )

        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            limit = max_import_bytes(ctx.settings)
            count = import_job.sequence_count(input.document, limit)
            if input.as_job or (count or 0) > import_job.JOB_THRESHOLD:
                job = await import_job.create_import_job(
                    ctx.session,
                    viewer,
                    input.document,
                    input.mode,
                    input.on_conflict,
                    input.activate,
                    limit,
                    ctx.services.engine.clock.now(),
                )
                ctx.services.engine.wake()
                return {"job": Job.from_row(job)}
            report = await import_document(
                ctx.session,
                ctx.services.registry,
                viewer,
                input.document,
                mode=input.mode,
                on_conflict=input.on_conflict,
                activate=input.activate,
                max_bytes=limit,
            )
            done.append(report)
            if not report.applied:
                raise _NotApplied(report)
            return {}

        return await mutate(info, payload, run, access.SEQUENCE_ADMINS)
