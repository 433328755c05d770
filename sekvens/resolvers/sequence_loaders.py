"""Per-request loaders for sequences: versions, steps, designs and their checks, counts.

A page of sequences costs a fixed number of statements whatever its size: each loader
batches, and the checker (record types, organization, sequence lookup) is built once.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from sekvens.authoring.checks import Checker
from sekvens.authoring.sequences import checker_for, sequence_gid
from sekvens.domain.errors import Problem
from sekvens.domain.life_cycles import RUNNING
from sekvens.domain.sequence_graph import SequenceGraph
from sekvens.plugins.registry import Registry
from sekvens.schema.tags import Tag as GraphTag
from sekvens.storage import organizations
from sekvens.storage import sequences as store
from sekvens.storage import tags as tag_store
from sekvens.storage.tables import Connection, SequenceVersion


@dataclass
class Design:
    """One version's steps as a graph, with its problems computed on first use: the checker
    (the organization, its record types and sequences) is loaded only when they are asked."""

    sequence_id: int
    version: SequenceVersion
    graph: SequenceGraph
    registry: Registry
    checker: Callable[[], Awaitable[Checker]]
    #: The design's `Step`s by key (`schema/steps.py` fills it).
    linked: dict[str, Any] = field(default_factory=dict, repr=False)
    _step_problems: dict[str, list[Problem]] | None = field(default=None, repr=False)
    _problems: list[Problem] | None = field(default=None, repr=False)

    async def step_problems(self) -> dict[str, list[Problem]]:
        if self._step_problems is None:
            checker = await self.checker()
            self._step_problems = checker.step_problems(self.graph, sequence_gid(self.sequence_id))
        return self._step_problems

    async def problems(self) -> list[Problem]:
        if self._problems is None:
            per_step = await self.step_problems()
            checker = await self.checker()
            self._problems = checker.problems(self.graph, sequence_gid(self.sequence_id), per_step)
        return self._problems


class SequenceLoaders:
    """The sequence loaders of one request: `session` reads, `registry` gives step shapes."""

    def __init__(self, session: AsyncSession, org_id: int, registry: Registry):
        self._session = session
        self._registry = registry
        self._checkers: dict[int, asyncio.Task[Checker]] = {}
        self._designs: dict[int, Design] = {}

        async def latest(ids: Seq[int]) -> list[SequenceVersion | None]:
            found = await store.latest_versions(session, ids)
            return [found.get(i) for i in ids]

        async def versions(ids: Seq[int]) -> list[list[SequenceVersion]]:
            groups: dict[int, list[SequenceVersion]] = defaultdict(list)
            for v in await session.scalars(
                select(SequenceVersion)
                .where(SequenceVersion.sequence_id.in_(ids))
                .order_by(SequenceVersion.number.desc())
            ):
                groups[v.sequence_id].append(v)
            return [groups.get(i, []) for i in ids]

        async def version(ids: Seq[int]) -> list[SequenceVersion | None]:
            rows = {
                v.id: v
                for v in await session.scalars(
                    select(SequenceVersion).where(SequenceVersion.id.in_(ids))
                )
            }
            return [rows.get(i) for i in ids]

        async def steps(ids: Seq[int]) -> list[list]:
            found = await store.steps_of(session, ids)
            return [found.get(i, []) for i in ids]

        async def sequence_step_counts(ids: Seq[int]) -> list[int]:
            counts = await store.step_counts(session, ids)
            return [counts.get(i, 0) for i in ids]

        async def active(ids: Seq[int]) -> list[int]:
            counts = dict(
                (
                    await session.execute(
                        select(Connection.sequence_id, func.count())
                        .where(Connection.sequence_id.in_(ids), Connection.status.in_(RUNNING))
                        .group_by(Connection.sequence_id)
                    )
                ).all()
            )
            return [counts.get(i, 0) for i in ids]

        async def tags(ids: Seq[int]) -> list[list[GraphTag]]:
            # The page's tags and the tags above them: not the organization's whole tree.
            found, tree = await tag_store.tags_of_sequences(session, ids)
            return [GraphTag.ordered(tree, found.get(i, ()), partial=True) for i in ids]

        self.latest_version = DataLoader(latest)
        self.versions = DataLoader(versions)
        self.version = DataLoader(version)
        self.steps = DataLoader(steps)
        #: sequence id -> steps of its newest version (START not counted)
        self.sequence_step_counts = DataLoader(sequence_step_counts)
        self.active_connections = DataLoader(active)
        self.tags = DataLoader(tags)
        self._org_id = org_id

    async def checker(self, record_type_id: int) -> Checker:
        task = self._checkers.get(record_type_id)
        if task is None:
            task = asyncio.ensure_future(self._build_checker(record_type_id))
            self._checkers[record_type_id] = task
        return await task

    async def _build_checker(self, record_type_id: int) -> Checker:
        org = await organizations.existing(self._session, self._org_id)
        return await checker_for(self._session, self._registry, org, record_type_id)

    async def design(
        self, sequence_id: int, record_type_id: int, version: SequenceVersion
    ) -> Design:
        """The version's design, one per version and request (its problems checked once)."""
        if (made := self._designs.get(version.id)) is not None:
            return made
        rows = await self.steps.load(version.id)
        graph = SequenceGraph(store.to_steps(rows), self._registry.shape)
        made = Design(
            sequence_id, version, graph, self._registry, partial(self.checker, record_type_id)
        )
        return self._designs.setdefault(version.id, made)
