"""A sequence version's steps as the designer sees them: `Step` nodes built from a design
(the version's graph and its checks, loaded by `resolvers/sequence_loaders.py`), and the
problems that block activation."""

from __future__ import annotations

from typing import Protocol

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from sekvens.domain.errors import Problem
from sekvens.domain.sequence_graph import SequenceGraph
from sekvens.schema.enums import ErrorCode, StepBranch, StepCategory
from sekvens.schema.relay import Node, to_global_id
from sekvens.storage.tables import SequenceVersion as VersionRow


class Design(Protocol):
    """What a `Step` reads of its version's design."""

    @property
    def version(self) -> VersionRow: ...

    @property
    def graph(self) -> SequenceGraph: ...

    async def step_problems(self) -> dict[str, list[Problem]]: ...

    async def problems(self) -> list[Problem]: ...


def step_gid(version_id: int, key: str) -> str:
    return to_global_id("Step", f"{version_id}:{key}")


@strawberry.type(description="Something that would block activation, with the step it concerns.")
class ValidationProblem:
    code: ErrorCode
    message: str
    field: list[str] | None
    step_id: strawberry.ID | None
    step_key: str | None

    @classmethod
    def of(cls, p: Problem, version_id: int) -> ValidationProblem:
        return cls(
            code=p.code,
            message=p.message,
            field=list(p.field) or None,
            step_id=strawberry.ID(step_gid(version_id, p.step_key)) if p.step_key else None,
            step_key=p.step_key,
        )


@strawberry.type(description="One node of the designer graph.")
class Step(Node):
    design: strawberry.Private[Design]
    key: str = strawberry.field(description="Stable across versions and environments.")
    type: str = strawberry.field(description="The step type's key, e.g. `email.auto`.")
    name: str
    description: str
    config: JSON
    branch: StepBranch | None = strawberry.field(
        description="Which branch of the parent this step is on."
    )
    depth: int

    @strawberry.field
    def category(self, info: Info) -> StepCategory | None:
        step_type = info.context.services.registry.get(self.type)
        return step_type.category if step_type else None

    def _follower(self, branch: str) -> Step | None:
        key = self.design.graph.follower(self.key, branch)
        return step_of(self.design, key) if key else None

    @strawberry.field
    def parent(self) -> Step | None:
        parent = self.design.graph.steps[self.key].parent
        return step_of(self.design, parent) if parent else None

    @strawberry.field(name="next")
    def next_step(self) -> Step | None:
        return self._follower(StepBranch.NEXT)

    @strawberry.field
    def yes(self) -> Step | None:
        return self._follower(StepBranch.YES)

    @strawberry.field
    def no(self) -> Step | None:
        return self._follower(StepBranch.NO)

    @strawberry.field(description="Why this step would block activation; empty when it is fine.")
    async def problems(self) -> list[ValidationProblem]:
        version_id = self.design.version.id
        per_step = await self.design.step_problems()
        return [ValidationProblem.of(p, version_id) for p in per_step.get(self.key, [])]


def step_of(design: Design, key: str, depth: int | None = None) -> Step:
    s = design.graph.steps[key]
    version_id = design.version.id
    if depth is None:
        depth = len(design.graph.ancestors(key))
    return Step(
        id=strawberry.ID(step_gid(version_id, key)),
        design=design,
        key=key,
        type=s.type,
        name=s.name,
        description=s.description,
        config=JSON(s.config),
        branch=StepBranch(s.branch) if s.branch is not None else None,
        depth=depth,
    )


def steps_of(design: Design) -> list[Step]:
    return [step_of(design, k, d) for k, d in design.graph.walk()]
