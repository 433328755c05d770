"""The timeline preview query: `sequencePreview` (docs/preview.md)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from sekvens.domain.errors import DomainError
from sekvens.engine.preview import load
from sekvens.resolvers.query import context
from sekvens.resolvers.sequences import sequence_pk
from sekvens.schema.errors import ApiError
from sekvens.schema.preview import SequencePreview
from sekvens.schema.relay import decode_id


@strawberry.type
class PreviewQueries:
    @strawberry.field(
        description="The dated timeline the sequence would follow for the record if it were"
        " connected at `startAt` (default and at the earliest: now): every step with when it"
        " is reached, due in the assignee's working calendar, sent in the recipient's send"
        " window, or waited for, along each branch. Previews the version `connectSequence`"
        " uses (an inactive sequence: the one `activateSequence` would activate; `draft`:"
        " an active sequence's draft revision). Whoever may connect the record may preview"
        " it; refusals are errors with a code and field: NOT_FOUND, WRONG_RECORD_TYPE,"
        " RECORD_INACTIVE, FORBIDDEN, NO_ASSIGNEE."
    )
    async def sequence_preview(
        self,
        info: Info,
        sequence_id: strawberry.ID,
        record_id: strawberry.ID,
        start_at: datetime | None = None,
        draft: bool = False,
    ) -> SequencePreview:
        ctx = context(info)
        registry = ctx.services.registry
        try:
            preview = await load(
                ctx.reader,
                registry,
                ctx.viewer,
                sequence_pk(str(sequence_id)),
                decode_id(record_id, "Record", ["recordId"]),
                start_at,
                ctx.services.engine.clock.now(),
                draft,
            )
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        return SequencePreview.of(preview, registry)
