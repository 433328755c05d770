"""Step types as the sequence designer sees them: what each installed plugin offers."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from sekvens.plugins.api import StepType as PluginStepType
from sekvens.schema.enums import ActivityKind, StepBranch, StepCategory


@strawberry.type(description="The installed Python distribution that provides a step type.")
class StepTypeProvider:
    distribution: str
    version: str


@strawberry.type(description="A kind of step a sequence can hold, provided by a plugin.")
class StepType:
    key: str = strawberry.field(description="Stable key, `<plugin>.<name>`, e.g. `email.auto`.")
    category: StepCategory
    display_name: str
    description: str
    version: str = strawberry.field(
        description="The step type's version, as its plugin numbers it."
    )
    branches: list[StepBranch] = strawberry.field(
        description="The paths that may follow the step; empty when nothing may follow it."
    )
    activity_kind: ActivityKind | None = strawberry.field(
        description="The seller activity the step is, if any."
    )
    automatic: bool = strawberry.field(description="True when the step runs without a seller.")
    config_schema: JSON = strawberry.field(
        description="JSON Schema of the step's configuration, to draw its form."
    )
    provider: StepTypeProvider | None = strawberry.field(
        description="The distribution providing the step type; null when not installed as one."
    )

    @classmethod
    def from_plugin(
        cls, step_type: PluginStepType[Any], provider: tuple[str, str] | None
    ) -> StepType:
        return cls(
            key=step_type.key,
            category=step_type.category,
            display_name=step_type.display_name,
            description=step_type.description,
            version=step_type.version,
            branches=list(step_type.branches),
            activity_kind=step_type.activity_kind,
            automatic=step_type.automatic,
            config_schema=JSON(step_type.config_schema()),
            provider=StepTypeProvider(distribution=provider[0], version=provider[1])
            if provider
            else None,
        )
