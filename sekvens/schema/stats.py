"""`Sequence.stats`: live counts of a sequence's connections, activities and email engagement.

The counts come from `sekvens.storage.stats` through a per-request DataLoader, so a page of
sequences asking for stats costs three statements, not three per sequence.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence as Seq
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from sekvens.domain.sequence_graph import START_TYPE
from sekvens.schema.enums import ConnectionReason, ConnectionStatus, WaitReason
from sekvens.schema.steps import Step, step_of
from sekvens.storage.stats import (
    SequenceCounts,
    StepCounts,
    VariantCounts,
    sequence_counts,
    waiting_counts,
)
from sekvens.storage.tables import Sequence as SequenceRow

#: One loader per request: keyed by the context's sequence loaders, which a mutation resets.
_loaders: weakref.WeakKeyDictionary[Any, DataLoader[int, SequenceCounts]] = (
    weakref.WeakKeyDictionary()
)


def _loader(info: Info) -> DataLoader[int, SequenceCounts]:
    ctx = info.context
    key = ctx.sequence_loaders
    loader = _loaders.get(key)
    if loader is None:

        async def load(ids: Seq[int]) -> list[SequenceCounts]:
            found = await sequence_counts(ctx.reader, ids)
            return [found[i] for i in ids]

        loader = _loaders[key] = DataLoader(load)
    return loader


_wait_loaders: weakref.WeakKeyDictionary[Any, DataLoader[int, dict[str, int]]] = (
    weakref.WeakKeyDictionary()
)


def _wait_loader(info: Info) -> DataLoader[int, dict[str, int]]:
    ctx = info.context
    key = ctx.sequence_loaders
    loader = _wait_loaders.get(key)
    if loader is None:

        async def load(ids: Seq[int]) -> list[dict[str, int]]:
            found = await waiting_counts(ctx.reader, ids)
            return [found[i] for i in ids]

        loader = _wait_loaders[key] = DataLoader(load)
    return loader


@strawberry.type
class WaitCount:
    reason: WaitReason
    count: int


@strawberry.type
class ReasonCount:
    reason: ConnectionReason
    count: int


@strawberry.type(
    description="One A/B variant of an automated email step: its emails and what recipients"
    " did with them; a step's variants add up to its numbers."
)
class VariantStats:
    label: str = strawberry.field(description="A (the step's template), B, C or D.")
    sent: int = strawberry.field(description="Its emails the SMTP server accepted.")
    delivered: int
    opened: int
    replied: int
    clicked: int
    bounced: int

    @classmethod
    def of(cls, counts: VariantCounts) -> VariantStats:
        return cls(
            label=counts.label,
            sent=counts.sent,
            delivered=counts.delivered,
            opened=counts.opened,
            replied=counts.replied,
            clicked=counts.clicked,
            bounced=counts.bounced,
        )


@strawberry.type(description="One step's numbers, all connections and versions together.")
class StepStats:
    step_key: str
    step: Step | None = strawberry.field(
        description="The step in the sequence's current version; null for a step removed since."
    )
    current: int = strawberry.field(description="Running connections (incl. paused) at it now.")
    open: int = strawberry.field(description="Open activities.")
    completed: int = strawberry.field(description="Completed activities (sent automated email).")
    skipped: int = strawberry.field(description="Skipped activities.")
    canceled: int = strawberry.field(
        description="Activities closed because their connection ended before they were done."
    )
    delivered: int = strawberry.field(description="Emails with an EMAIL_DELIVERED event.")
    opened: int = strawberry.field(description="Emails opened at least once.")
    replied: int = strawberry.field(description="Emails replied to.")
    clicked: int = strawberry.field(description="Emails with a link clicked.")
    bounced: int
    variants: list[VariantStats] = strawberry.field(
        description="An A/B test's numbers per variant that has emails, by label; empty: no test."
    )

    @classmethod
    def of(cls, counts: StepCounts, step: Step | None) -> StepStats:
        return cls(
            step_key=counts.step_key,
            step=step,
            current=counts.current,
            open=counts.open,
            completed=counts.completed,
            skipped=counts.skipped,
            canceled=counts.canceled,
            delivered=counts.delivered,
            opened=counts.opened,
            replied=counts.replied,
            clicked=counts.clicked,
            bounced=counts.bounced,
            variants=[VariantStats.of(v) for _, v in sorted(counts.variants.items())],
        )


@strawberry.type(description="Live counts of a sequence; computed when asked, never cached.")
class SequenceStats:
    counts: strawberry.Private[SequenceCounts]
    row: strawberry.Private[SequenceRow]
    connected: int = strawberry.field(description="Connections ever made, whatever their state.")
    running: int = strawberry.field(description="Connections running now (CONNECTED).")
    paused: int
    completed: int
    disconnected: int
    in_error: int = strawberry.field(description="Connections in ERROR.")
    by_reason: list[ReasonCount] = strawberry.field(
        description="Ended connections by reason (SEQUENCE_COMPLETED for completed ones)."
    )

    @classmethod
    async def load(cls, info: Info, row: SequenceRow) -> SequenceStats:
        counts = await _loader(info).load(row.id)
        status = counts.by_status
        return cls(
            counts=counts,
            row=row,
            connected=counts.total,
            running=status[ConnectionStatus.CONNECTED],
            paused=status[ConnectionStatus.PAUSED],
            completed=status[ConnectionStatus.COMPLETED],
            disconnected=status[ConnectionStatus.DISCONNECTED],
            in_error=status[ConnectionStatus.ERROR],
            by_reason=[
                ReasonCount(reason=ConnectionReason(r), count=n)
                for r, n in sorted(counts.by_reason.items())
                if r in ConnectionReason.__members__
            ],
        )

    @strawberry.field(
        description="Queued automated emails of its connections that wait to go out, by why"
        " (reasons with none left out)."
    )
    async def waiting(self, info: Info) -> list[WaitCount]:
        counts = await _wait_loader(info).load(self.row.id)
        return [WaitCount(reason=WaitReason(r), count=n) for r, n in sorted(counts.items())]

    @strawberry.field(
        description="Every step of the current version in designer order (START left out),"
        " then steps only older versions had."
    )
    async def steps(self, info: Info) -> list[StepStats]:
        loaders = info.context.sequence_loaders
        version_id = self.row.current_version_id
        version = await (
            loaders.version.load(version_id)
            if version_id is not None
            else loaders.latest_version.load(self.row.id)
        )
        out: list[StepStats] = []
        seen: set[str] = set()
        if version is not None:
            design = await loaders.design(self.row.id, self.row.record_type_id, version)
            for key, _ in design.graph.walk():
                seen.add(key)
                if design.graph.steps[key].type == START_TYPE:
                    continue
                counts = self.counts.steps.get(key) or StepCounts(key)
                out.append(StepStats.of(counts, step_of(design, key)))
        for key in sorted(set(self.counts.steps) - seen):
            out.append(StepStats.of(self.counts.steps[key], None))
        return out
