"""The `stepTypes` query: every step type the plugin registry holds."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from sekvens.plugins.api import StepCategory as PluginStepCategory
from sekvens.resolvers.query import context
from sekvens.schema.step_types import StepCategory, StepType


@strawberry.type
class StepTypeQueries:
    @strawberry.field(
        description="Every installed and enabled step type, by key; optionally of one category."
    )
    def step_types(
        self,
        info: Info,
        category: StepCategory | None = None,
    ) -> list[StepType]:
        registry = context(info).services.registry
        wanted = None if category is None else PluginStepCategory(category)
        return [
            StepType.from_plugin(t, registry.provider(t.key))
            for t in registry.all()
            if wanted is None or t.category == wanted
        ]
