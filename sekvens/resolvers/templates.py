"""`sequenceTemplates` and `saveAsTemplate`."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.authoring import sequences, templates
from sekvens.domain.errors import DomainError
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import context
from sekvens.schema.errors import ApiError
from sekvens.schema.relay import decode_id
from sekvens.schema.templates import SaveAsTemplateInput, SaveAsTemplatePayload, SequenceTemplate


@strawberry.type
class TemplateQueries:
    @strawberry.field(
        description="The built-in templates, then the organization's own by name; optionally "
        "for one record type (by name, e.g. `lead`)."
    )
    async def sequence_templates(
        self, info: Info, record_type: str | None = None
    ) -> list[SequenceTemplate]:
        ctx = context(info)
        try:
            await sequences.organization(ctx.reader, ctx.viewer)
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        found = await templates.list_templates(ctx.reader, ctx.viewer.organization_id, record_type)
        return [SequenceTemplate.from_template(t) for t in found]


@strawberry.type
class TemplateMutations:
    @strawberry.mutation(
        description="Save the steps of a sequence's newest version as an organization template."
    )
    async def save_as_template(
        self, info: Info, input: SaveAsTemplateInput
    ) -> SaveAsTemplatePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            sequence_id = decode_id(input.sequence_id, "Sequence", ["sequenceId"])
            template = await templates.save_as_template(
                ctx.session,
                ctx.services.registry,
                viewer,
                sequence_id,
                input.name,
                input.description,
            )
            return {"template": SequenceTemplate.from_template(template)}

        return await mutate(info, SaveAsTemplatePayload, run)
