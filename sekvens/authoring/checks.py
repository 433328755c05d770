"""Check a sequence version: every step through its plugin, then the whole-design rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sekvens.domain.errors import Problem
from sekvens.domain.records import RecordTypeInfo
from sekvens.domain.sequence_graph import SequenceGraph, StepShape
from sekvens.domain.sequence_rules import graph_problems
from sekvens.plugins.api import (
    Branch,
    SequenceInfo,
    StepCategory,
    StepRef,
    ValidationContext,
)
from sekvens.plugins.registry import Registry


def shape_of(registry: Registry) -> Callable[[str], StepShape | None]:
    def shape(type_key: str) -> StepShape | None:
        step_type = registry.get(type_key)
        if step_type is None:
            return None
        return StepShape(
            branches=tuple(b.value for b in step_type.branches),
            activity_kind=step_type.activity_kind.value if step_type.activity_kind else None,
            is_condition=step_type.category is StepCategory.CONDITION
            or Branch.YES in step_type.branches,
        )

    return shape


@dataclass(frozen=True)
class Checker:
    """What checking needs besides the graph: plugins, the record type, the organization."""

    registry: Registry
    record_type: RecordTypeInfo
    call_outcomes: tuple[str, ...]
    max_steps: int
    lookup_sequence: Callable[[str], SequenceInfo | None]

    def ref(self, graph: SequenceGraph, key: str) -> StepRef:
        step = graph.steps[key]
        step_type = self.registry.get(step.type)
        return StepRef(
            key=key,
            type=step.type,
            category=step_type.category if step_type else StepCategory.STEP,
            activity_kind=step_type.activity_kind if step_type else None,
            name=step.name,
        )

    def context(self, graph: SequenceGraph, key: str, sequence_id: str | None) -> ValidationContext:
        ancestors = graph.ancestors(key)
        previous = self.ref(graph, ancestors[0]) if ancestors else None
        activity = next(
            (self.ref(graph, k) for k in ancestors if graph.shape(k).activity_kind is not None),
            None,
        )
        return ValidationContext(
            record_type=self.record_type,
            step_key=key,
            sequence_id=sequence_id,
            previous_step=previous,
            previous_activity=activity,
            is_first=len(ancestors) == 1,
            followers=tuple(self.ref(graph, k) for k in graph.followers(key)),
            call_outcomes=self.call_outcomes,
            lookup_sequence=self.lookup_sequence,
        )

    def step_problems(
        self, graph: SequenceGraph, sequence_id: str | None
    ) -> dict[str, list[Problem]]:
        return {
            key: self.registry.check_step(
                step.type, step.config, self.context(graph, key, sequence_id)
            )
            for key, step in graph.steps.items()
        }

    def problems(
        self,
        graph: SequenceGraph,
        sequence_id: str | None,
        per_step: dict[str, list[Problem]] | None = None,
    ) -> list[Problem]:
        """Everything that would block activation, in designer order (`per_step`: the step
        problems when already computed)."""
        if per_step is None:
            per_step = self.step_problems(graph, sequence_id)
        ordered = [p for key, _ in graph.walk() for p in per_step[key]]
        return ordered + graph_problems(graph, self.max_steps)
