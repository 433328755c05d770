"""Check a sequence version: every step through its plugin, then the whole-design rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sekvens.domain.errors import Problem
from sekvens.domain.records import RecordTypeInfo
from sekvens.domain.sequence_graph import SequenceGraph
from sekvens.domain.sequence_rules import graph_problems
from sekvens.plugins.api import SequenceInfo, ValidationContext
from sekvens.plugins.registry import Registry


@dataclass(frozen=True)
class Checker:
    """What checking needs besides the graph: plugins, the record type, the organization."""

    registry: Registry
    record_type: RecordTypeInfo
    call_outcomes: tuple[str, ...]
    max_steps: int
    lookup_sequence: Callable[[str], SequenceInfo | None]

    def context(self, graph: SequenceGraph, key: str, sequence_id: str | None) -> ValidationContext:
        ancestors = graph.ancestors(key)
        ref = partial(self.registry.step_ref, graph)
        previous = ref(ancestors[0]) if ancestors else None
        activity = next(
            (ref(k) for k in ancestors if graph.shape(k).activity_kind is not None), None
        )
        return ValidationContext(
            record_type=self.record_type,
            step_key=key,
            sequence_id=sequence_id,
            previous_step=previous,
            previous_activity=activity,
            is_first=len(ancestors) == 1,
            followers=tuple(ref(k) for k in graph.followers(key)),
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
