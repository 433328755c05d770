"""A sequence version's steps as a tree under START, and the edits the designer makes to it.

Pure: step types are known only through `StepShape`, handed in by the caller. Branches
are `Branch` values (NEXT, YES, NO).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.steps import Branch

NEXT, YES, NO = Branch.NEXT, Branch.YES, Branch.NO
START_TYPE = "core.start"
WAIT_TYPE = "core.wait"


@dataclass(frozen=True)
class StepShape:
    """What the graph needs of a step type: its branches and whether it is a condition."""

    branches: tuple[str, ...]
    activity_kind: str | None = None
    is_condition: bool = False


#: Looks a step type up by key; None when it is not installed.
ShapeOf = Callable[[str], StepShape | None]
#: An unknown type keeps the tree editable: it is treated as a plain step.
UNKNOWN_SHAPE = StepShape((NEXT,))


def new_key() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class Step:
    key: str
    type: str
    name: str = ""
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    branch: str | None = None


class SequenceGraph:
    """Steps by key, each under one (parent, branch); exactly one START at the root."""

    def __init__(self, steps: list[Step], shape_of: ShapeOf):
        self.shape_of = shape_of
        self.steps: dict[str, Step] = {}
        self.children: dict[tuple[str, str], str] = {}
        for step in steps:
            self.steps[step.key] = step
        self._index()

    def shape(self, key: str) -> StepShape:
        return self.shape_of(self.steps[key].type) or UNKNOWN_SHAPE

    def _index(self) -> None:
        self.children = {
            (s.parent, s.branch): s.key
            for s in self.steps.values()
            if s.parent is not None and s.branch is not None
        }

    @classmethod
    def blank(cls, shape_of: ShapeOf) -> SequenceGraph:
        return cls([Step(new_key(), START_TYPE, "Sequence starts here")], shape_of)

    @property
    def start(self) -> Step:
        return next(s for s in self.steps.values() if s.type == START_TYPE)

    def check(self) -> None:
        """Raise INVALID_TREE unless the steps form one tree under a single START."""

        def bad(message: str, key: str | None = None) -> DomainError:
            return DomainError.of(ErrorCode.INVALID_TREE, message, ["steps"], key)

        starts = [s for s in self.steps.values() if s.type == START_TYPE]
        if len(starts) != 1:
            raise bad("A sequence has exactly one START step.")
        if starts[0].parent is not None:
            raise bad("The START step comes first.", starts[0].key)
        seen: set[tuple[str, str]] = set()
        for s in self.steps.values():
            if s is starts[0]:
                continue
            if s.parent not in self.steps or s.branch is None:
                raise bad(f"Step '{s.name or s.key}' follows no step of this sequence.", s.key)
            if s.branch not in self.shape(s.parent).branches:
                parent = self.steps[s.parent]
                raise bad(f"Step '{parent.name or parent.key}' has no {s.branch} branch.", s.key)
            if (s.parent, s.branch) in seen:
                raise bad("Two steps follow the same branch of one step.", s.key)
            seen.add((s.parent, s.branch))
        reachable = {k for k, _ in self.walk()}
        if len(reachable) != len(self.steps):
            raise bad("The steps contain a loop.")

    def walk(self, key: str | None = None, depth: int = 0) -> Iterator[tuple[str, int]]:
        """Steps in designer order (depth first, YES before NO), with their depth."""
        key = key or self.start.key
        stack = [(key, depth)]
        seen: set[str] = set()
        while stack:
            k, d = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            yield k, d
            for branch in reversed(self.shape(k).branches):
                child = self.children.get((k, branch))
                if child:
                    stack.append((child, d + 1))

    def follower(self, key: str, branch: str) -> str | None:
        return self.children.get((key, branch))

    def followers(self, key: str) -> list[str]:
        return [c for b in self.shape(key).branches if (c := self.children.get((key, b)))]

    def ancestors(self, key: str) -> list[str]:
        """From the step before `key` back to START."""
        out = []
        parent = self.steps[key].parent
        while parent is not None:
            out.append(parent)
            parent = self.steps[parent].parent
        return out

    def leaves(self) -> list[str]:
        return [k for k, _ in self.walk() if not self.followers(k) and k != self.start.key]

    def subtree(self, key: str) -> list[str]:
        return [k for k, _ in self.walk(key)]

    # --- Edits ----------------------------------------------------------------------------

    def _require(self, key: str, field_name: str) -> Step:
        step = self.steps.get(key)
        if step is None:
            raise DomainError.of(
                ErrorCode.NOT_FOUND, "No such step in this sequence.", [field_name]
            )
        return step

    def _attach(self, key: str, parent: str, branch: str) -> None:
        step = self.steps[key]
        step.parent, step.branch = parent, branch
        self.children[(parent, branch)] = key

    def insert(self, step: Step, after: str, branch: str) -> Step:
        """Insert `step` on `branch` of `after`; the old follower moves under the new step
        (under YES for a condition, NEXT otherwise; a new step with no branches takes none).
        """
        self._require(after, "afterStepId")
        if branch not in self.shape(after).branches:
            raise DomainError.of(
                ErrorCode.BRANCH_NOT_AVAILABLE,
                f"Step '{self.steps[after].name}' has no {branch} branch.",
                ["branch"],
            )
        if step.type == START_TYPE:
            raise DomainError.of(ErrorCode.START_STEP, "A sequence has one START step.", ["type"])
        old = self.children.pop((after, branch), None)
        self.steps[step.key] = step
        self._attach(step.key, after, branch)
        if old is not None:
            shape = self.shape_of(step.type) or UNKNOWN_SHAPE
            if not shape.branches:
                raise DomainError.of(
                    ErrorCode.ADVANCE_HAS_FOLLOWER,
                    "Nothing may follow this step; insert it at the end of a path.",
                    ["afterStepId"],
                )
            self._attach(old, step.key, YES if YES in shape.branches else shape.branches[0])
        return step

    def remove(self, key: str, keep_branch: str | None = None) -> list[str]:
        """Remove a step; its follower takes its place. A step with two branches keeps one
        (`keep_branch`) and the other branch's steps go too. Returns the removed keys."""
        step = self._require(key, "stepId")
        if step.type == START_TYPE:
            raise DomainError.of(
                ErrorCode.START_STEP, "The START step can't be removed.", ["stepId"]
            )
        branches = self.shape(key).branches
        dependents = [
            k
            for k in self.subtree(key)
            if k != key and self.shape(k).is_condition and self._depends_on(k, key)
        ]
        if len(branches) > 1:
            if keep_branch not in branches:
                raise DomainError.of(
                    ErrorCode.KEEP_BRANCH_REQUIRED,
                    f"Say which branch to keep ({' or '.join(branches)}); the other is removed.",
                    ["keepBranch"],
                )
            kept = self.children.get((key, keep_branch))
            dropped = [
                k
                for b in branches
                if b != keep_branch
                for c in [self.children.get((key, b))]
                if c
                for k in self.subtree(c)
            ]
        else:
            kept = self.children.get((key, branches[0])) if branches else None
            dropped = []
        dependents = [d for d in dependents if d not in dropped]
        if dependents:
            names = ", ".join(self.steps[d].name or d for d in dependents)
            raise DomainError.of(
                ErrorCode.STEP_HAS_DEPENDENTS,
                f"Remove the condition that depends on this step first: {names}.",
                ["stepId"],
            )
        parent, branch = step.parent, step.branch
        if parent is None or branch is None:  # only START has none, and it stays
            raise ValueError(f"Step '{key}' follows no step.")
        for k in [key, *dropped]:
            del self.steps[k]
        self._index()
        if kept is not None:
            self._attach(kept, parent, branch)
        return [key, *dropped]

    def _depends_on(self, condition: str, activity: str) -> bool:
        """A condition depends on the nearest activity step above it."""
        for k in self.ancestors(condition):
            if self.shape(k).activity_kind is not None:
                return k == activity
        return False

    def move(self, key: str, after: str, branch: str) -> None:
        """Move one step (its followers close the gap it leaves) to `branch` of `after`."""
        step = self._require(key, "stepId")
        if step.type == START_TYPE:
            raise DomainError.of(ErrorCode.START_STEP, "The START step can't move.", ["stepId"])
        if len(self.followers(key)) > 1:
            raise DomainError.of(
                ErrorCode.INVALID_TREE,
                "A step with two branches moves with its branches; remove and re-add it instead.",
                ["stepId"],
            )
        self._require(after, "afterStepId")
        if after == key:
            raise DomainError.of(
                ErrorCode.INVALID_TREE, "A step can't follow itself.", ["afterStepId"]
            )
        detached = replace(step, parent=None, branch=None)
        self.remove(key)
        self.insert(detached, after, branch)

    def to_list(self) -> list[Step]:
        return [self.steps[k] for k, _ in self.walk()]
