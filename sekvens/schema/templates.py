"""Sequence templates as the API shows them: built-ins and an organization's own."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from sekvens.authoring.templates import Template
from sekvens.domain.sequence_graph import Step
from sekvens.schema.enums import StepBranch
from sekvens.schema.errors import UserError


@strawberry.type(description="One step of a template, as a sequence created from it gets it.")
class TemplateStep:
    key: str = strawberry.field(description="The step's key, unique within the template.")
    type: str = strawberry.field(description="The step type's key, e.g. `email.manual`.")
    name: str
    description: str
    config: JSON = strawberry.field(description="The step's configuration for its plugin.")
    parent_key: str | None = strawberry.field(
        description="The key of the step this one follows; null for the START step."
    )
    branch: StepBranch | None = strawberry.field(
        description="Which path of the parent step this one is on; null for the START step."
    )

    @classmethod
    def from_step(cls, step: Step) -> TemplateStep:
        return cls(
            key=step.key,
            type=step.type,
            name=step.name,
            description=step.description,
            config=JSON(step.config),
            parent_key=step.parent,
            branch=StepBranch(step.branch) if step.branch else None,
        )


@strawberry.type(
    description="A ready set of steps for one record type; createSequence(templateId) copies it."
)
class SequenceTemplate:
    id: strawberry.ID = strawberry.field(
        description="`builtin:<name>` for a built-in template; a global id for the "
        "organization's own."
    )
    name: str
    description: str
    record_type: str = strawberry.field(description="The name of the record type it is for.")
    is_builtin: bool = strawberry.field(description="True for a template that sekvens ships.")
    step_count: int = strawberry.field(description="How many steps, not counting waits.")
    duration_days: float = strawberry.field(
        description="Total duration in days: the waits along its longest path, summed."
    )
    duration_hours: int = strawberry.field(description="The same duration in hours.")
    steps: list[TemplateStep] = strawberry.field(
        description="Every step, START first, in designer order."
    )

    @classmethod
    def from_template(cls, template: Template) -> SequenceTemplate:
        seconds = template.duration.total_seconds()
        return cls(
            id=strawberry.ID(template.id),
            name=template.name,
            description=template.description,
            record_type=template.record_type,
            is_builtin=template.is_builtin,
            step_count=template.step_count,
            duration_days=seconds / 86400,
            duration_hours=int(seconds // 3600),
            steps=[TemplateStep.from_step(s) for s in template.steps],
        )


@strawberry.input
class SaveAsTemplateInput:
    sequence_id: strawberry.ID
    name: str = strawberry.field(description="1 to 160 characters, unique in the organization.")
    description: str | None = strawberry.field(default=None, description="At most 2000.")


@strawberry.type
class SaveAsTemplatePayload:
    errors: list[UserError]
    template: SequenceTemplate | None = None
