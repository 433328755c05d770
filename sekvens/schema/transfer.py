"""Moving sequences between environments: export and import inputs, the import report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from sekvens.schema.enums import ErrorCode, ImportAction, ImportConflictPolicy, ImportMode
from sekvens.schema.errors import UserError
from sekvens.schema.sequences import Sequence
from sekvens.storage.tables import Sequence as SequenceRow
from sekvens.transfer.document import TransferProblem as TransferProblemValue
from sekvens.transfer.import_ import ImportReport as ImportReportValue
from sekvens.transfer.import_ import SequenceResult

if TYPE_CHECKING:
    from sekvens.schema.jobs import Job


@strawberry.input
class ExportSequencesInput:
    sequence_ids: list[strawberry.ID]
    include_dependencies: bool = strawberry.field(
        default=True,
        description="Also export the sequences these advance to, transitively.",
    )


@strawberry.type
class ExportSequencesPayload:
    errors: list[UserError]
    document: JSON | None = strawberry.field(
        default=None,
        description="The sequences document (format sekvens.sequences; see docs/transfer.md).",
    )


@strawberry.input
class ImportSequencesInput:
    document: JSON = strawberry.field(
        description="The sequences document, or its JSON text as a string (then it is"
        " measured against the import size limit before it is parsed)."
    )
    mode: ImportMode
    on_conflict: ImportConflictPolicy = ImportConflictPolicy.UPDATE
    activate: bool = strawberry.field(
        default=False,
        description="Activate the sequences that were active at export, and make imported"
        " revisions of active sequences current.",
    )
    as_job: bool = strawberry.field(
        default=False,
        description="Import as a job even for a document of 200 sequences or fewer (docs/jobs.md).",
    )


@strawberry.type(description="Why an import can't go ahead, with where in the document.")
class TransferProblem:
    code: ErrorCode
    message: str
    path: list[str] = strawberry.field(
        description="Where in the document: object keys and list indexes; empty for the"
        " document as a whole."
    )
    sequence_key: str | None
    step_key: str | None

    @classmethod
    def of(cls, p: TransferProblemValue) -> TransferProblem:
        return cls(
            code=p.code,
            message=p.message,
            path=list(p.path),
            sequence_key=p.sequence_key,
            step_key=p.step_key,
        )


@strawberry.type(description="One sequence of the document: what the import does with it.")
class ImportedSequence:
    row: strawberry.Private[SequenceRow | None]
    index: int = strawberry.field(description="Its index in the document's sequences.")
    key: str = strawberry.field(description="Its key in the document.")
    name: str
    action: ImportAction
    unchanged: bool = strawberry.field(description="SKIP because an UPDATE would change nothing.")
    new_key: str | None = strawberry.field(description="For COPY: the copy's key.")
    activated: bool
    problems: list[TransferProblem]

    @strawberry.field(description="The sequence here; null unless the import was applied.")
    def sequence(self) -> Sequence | None:
        return Sequence.from_row(self.row) if self.row is not None else None

    @classmethod
    def of(cls, r: SequenceResult, applied: bool) -> ImportedSequence:
        return cls(
            row=r.sequence if applied else None,
            index=r.index,
            key=r.key,
            name=r.name,
            action=ImportAction(r.action),
            unchanged=r.unchanged,
            new_key=r.new_key,
            activated=r.activated,
            problems=[TransferProblem.of(p) for p in r.problems],
        )


@strawberry.type
class ImportReport:
    mode: ImportMode
    on_conflict: ImportConflictPolicy
    activate: bool
    applied: bool = strawberry.field(description="True when the import was written.")
    problems: list[TransferProblem] = strawberry.field(
        description="Problems of the document as a whole: its format, missing step types,"
        " record types, fields and teams."
    )
    sequences: list[ImportedSequence]
    created_tags: list[str] = strawberry.field(description="Paths of the tags created.")

    @classmethod
    def of(cls, r: ImportReportValue) -> ImportReport:
        return cls(
            mode=ImportMode(r.mode),
            on_conflict=ImportConflictPolicy(r.on_conflict),
            activate=r.activate,
            applied=r.applied,
            problems=[TransferProblem.of(p) for p in r.problems],
            sequences=[ImportedSequence.of(s, r.applied) for s in r.sequences],
            created_tags=list(r.created_tags),
        )


@strawberry.type
class ImportSequencesPayload:
    errors: list[UserError] = strawberry.field(
        description="Every problem of the report (field: the path into the input, index: the"
        " sequence), or why the import was refused."
    )
    report: ImportReport | None = strawberry.field(
        default=None, description="In the request: what the import did. A job's is its result."
    )
    job: Annotated[Job, strawberry.lazy("sekvens.schema.jobs")] | None = strawberry.field(
        default=None,
        description="Over 200 sequences, or with asJob: the job that imports the document"
        " (its result is the report).",
    )
