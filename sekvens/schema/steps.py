"""A sequence version's steps as the designer sees them: `Step` nodes built from a design
(the version's graph and its checks, loaded by `resolvers/sequence_loaders.py`), and the
problems that block activation."""

from __future__ import annotations

from typing import Protocol

import strawberry
from strawberry.scalars import JSON

from sekvens.domain.errors import Problem
from sekvens.domain.sequence_graph import SequenceGraph
from sekvens.plugins.registry import Registry
from sekvens.schema.enums import ErrorCode, StepBranch, StepCategory
from sekvens.schema.relay import Node, to_global_id
from sekvens.storage.tables import SequenceVersion as VersionRow


class Design(Protocol):
    """What a `Step` reads of its version's design."""

    @property
    def version(self) -> VersionRow: ...

    @property
    def graph(self) -> SequenceGraph: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def linked(self) -> dict[str, Step]:
        """The design's `Step`s by key, filled on first use."""
        ...

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
    """Built for a whole design at once (`steps_of`), each step linked to its parent and
    followers: the designer's fields are plain values, with no resolver call per field."""

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
    category: StepCategory | None
    parent: Step | None = None
    next_step: Step | None = strawberry.field(name="next", default=None)
    yes: Step | None = None
    no: Step | None = None

    @strawberry.field(
        description="Why this step would block activation, its own settings' problems and the"
        " sequence's that name it (a trailing wait...); empty when it is fine."
    )
    async def problems(self) -> list[ValidationProblem]:
        version_id = self.design.version.id
        own = (await self.design.step_problems()).get(self.key, [])
        named = [p for p in await self.design.problems() if p.step_key == self.key]
        return [
            ValidationProblem.of(p, version_id) for p in [*own, *(p for p in named if p not in own)]
        ]


def _linked(design: Design) -> dict[str, Step]:
    """Every step of `design` by key, linked; made once per design."""
    if design.linked:
        return design.linked
    graph, version_id = design.graph, design.version.id
    depths = dict(graph.walk())
    out = design.linked
    for key, s in graph.steps.items():
        step_type = design.registry.get(s.type)
        out[key] = Step(
            id=strawberry.ID(step_gid(version_id, key)),
            design=design,
            key=key,
            type=s.type,
            name=s.name,
            description=s.description,
            config=JSON(s.config),
            branch=StepBranch(s.branch) if s.branch is not None else None,
            depth=depths[key] if key in depths else len(graph.ancestors(key)),
            category=step_type.category if step_type else None,
        )
    for key, step in out.items():
        parent = graph.steps[key].parent
        step.parent = out[parent] if parent else None
        for branch, attr in _FOLLOWERS:
            follower = graph.follower(key, branch)
            setattr(step, attr, out[follower] if follower else None)
    return out


_FOLLOWERS = ((StepBranch.NEXT, "next_step"), (StepBranch.YES, "yes"), (StepBranch.NO, "no"))


def step_of(design: Design, key: str) -> Step:
    return _linked(design)[key]


def steps_of(design: Design) -> list[Step]:
    """The steps in designer order (depth first, YES before NO)."""
    linked = _linked(design)
    return [linked[k] for k, _ in design.graph.walk()]
