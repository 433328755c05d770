"""The timeline preview in GraphQL: `SequencePreview`, its steps, branches and paths."""

from __future__ import annotations

from datetime import datetime

import strawberry

from sekvens.domain.send_windows import SendWindow as Window
from sekvens.engine.preview import BranchTime, PathTime, Preview, StepTime
from sekvens.plugins.registry import Registry
from sekvens.schema.enums import ActivityKind, StepBranch, StepCategory, VersionStatus
from sekvens.schema.records import Record
from sekvens.schema.send_windows import SendWindow
from sekvens.schema.sequences import Sequence
from sekvens.schema.steps import ValidationProblem, step_gid
from sekvens.schema.users import User


@strawberry.type(description="A branch out of a previewed step, and when it starts.")
class PreviewBranch:
    branch: StepBranch
    starts_at: datetime = strawberry.field(description="When the connection would take it.")
    next_key: str | None = strawberry.field(
        description="The key of the step it leads to; null: the sequence ends on this branch."
    )
    assumes: str | None = strawberry.field(
        description="What must happen for the connection to take this branch then."
    )
    expected: bool = strawberry.field(
        description="The branch the record would take with its values as they are now (steps"
        " that check a field or the stage)."
    )
    possible: bool = strawberry.field(
        description="False: the connection can't take it (it waits on an email that goes"
        " out only later; `assumes` says when)."
    )

    @classmethod
    def of(cls, b: BranchTime) -> PreviewBranch:
        return cls(
            branch=StepBranch(b.branch),
            starts_at=b.starts_at,
            next_key=b.next_key,
            assumes=b.assumes or None,
            expected=b.expected,
            possible=b.possible,
        )


@strawberry.type(
    description="One step of the timeline, in designer order; `parentKey` and `branch` place"
    " it in the tree as in `Sequence.steps`."
)
class PreviewStep:
    key: str
    step_id: strawberry.ID = strawberry.field(description="The `Step` node previewed.")
    type: str = strawberry.field(description="The step type's key, e.g. `email.auto`.")
    name: str = strawberry.field(description="The step's name, else its type's display name.")
    category: StepCategory | None
    kind: ActivityKind | None = strawberry.field(description="The kind of activity it is.")
    parent_key: str | None
    branch: StepBranch | None = strawberry.field(
        description="Which branch of the parent this step is on."
    )
    depth: int
    reached_at: datetime = strawberry.field(description="When the connection reaches it.")
    due_at: datetime | None = strawberry.field(
        description="When its activity is due, in the assignee's working calendar (manual work)."
    )
    send_at: datetime | None = strawberry.field(
        description="When its automated email goes out, in the recipient's send window."
    )
    wait_until: datetime | None = strawberry.field(description="When its wait or time limit ends.")
    branches: list[PreviewBranch] = strawberry.field(
        description="The branches out of it and when each starts; empty when the path ends here."
    )
    ends: str | None = strawberry.field(
        description="The connection would end at this step, with this reason (a"
        " ConnectionReason value such as ADVANCED_TO_OTHER_SEQUENCE, OPTED_OUT or"
        " NO_EMAIL_ADDRESS, or a plugin's code)."
    )
    note: str | None
    assumes: list[str] = strawberry.field(
        description="What the times of this step take for granted."
    )
    problem: ValidationProblem | None = strawberry.field(
        description="Why the engine could not run the step (the path stops here)."
    )

    @classmethod
    def of(cls, s: StepTime, version_id: int, registry: Registry) -> PreviewStep:
        step_type = registry.get(s.type)
        kind = step_type.activity_kind if step_type else None
        return cls(
            key=s.key,
            step_id=strawberry.ID(step_gid(version_id, s.key)),
            type=s.type,
            name=s.name,
            category=step_type.category if step_type else None,
            kind=ActivityKind(kind) if kind else None,
            parent_key=s.parent_key,
            branch=StepBranch(s.branch) if s.branch else None,
            depth=s.depth,
            reached_at=s.reached_at,
            due_at=s.due_at,
            send_at=s.send_at,
            wait_until=s.wait_until,
            branches=[PreviewBranch.of(b) for b in s.branches],
            ends=s.ends,
            note=s.note or None,
            assumes=list(s.assumes),
            problem=ValidationProblem.of(s.problem, version_id) if s.problem else None,
        )


@strawberry.type(description="One way through the sequence, from START to where it ends.")
class PreviewPath:
    choices: list[StepBranch] = strawberry.field(
        description="The branch taken at each step with several, in order."
    )
    step_keys: list[str] = strawberry.field(description="Its steps, from START.")
    ends_at: datetime
    ending: str = strawberry.field(
        description="How the connection would end: SEQUENCE_COMPLETED, STEP_FAILED, or the"
        " reason of the step it ends at."
    )
    possible: bool = strawberry.field(
        description="False: a branch on it is impossible (`PreviewBranch.possible`)."
    )
    unsent_step_keys: list[str] = strawberry.field(
        description="Its automated emails still waiting for their send window when it ends"
        " other than completed: ending the connection cancels them, so on this path they are"
        " never sent."
    )

    @classmethod
    def of(cls, p: PathTime) -> PreviewPath:
        return cls(
            choices=[StepBranch(c) for c in p.choices],
            step_keys=list(p.step_keys),
            ends_at=p.ends_at,
            ending=p.ending,
            possible=p.possible,
            unsent_step_keys=list(p.unsent),
        )


@strawberry.type(
    description="The dated timeline a sequence would follow for a record connected at"
    " `startsAt` (docs/preview.md): each step with when it is reached, due, sent or waited"
    " for, along every branch. Activities are assumed completed when due."
)
class SequencePreview:
    sequence: Sequence
    record: Record
    version: int = strawberry.field(description="The number of the version previewed.")
    version_status: VersionStatus
    starts_at: datetime = strawberry.field(
        description="When the connection would start: `startAt`, or now when that is past."
    )
    assignee: User | None = strawberry.field(
        description="Whose working calendar the activities and waits count in."
    )
    time_zone: str = strawberry.field(description="The time zone of that calendar.")
    skip_non_working_time: bool
    send_window: SendWindow | None = strawberry.field(
        description="The send window automated email waits for (null: any time)."
    )
    recipient_time_zone: str | None = strawberry.field(
        description="The time zone the send window is read in (null: no window)."
    )
    steps: list[PreviewStep] = strawberry.field(
        description="Every step the connection can reach, in designer order (depth first,"
        " YES before NO)."
    )
    paths: list[PreviewPath] = strawberry.field(
        description="Every way through the sequence, in the same order."
    )

    @classmethod
    def of(cls, p: Preview, registry: Registry) -> SequencePreview:
        window = p.schedule.window
        version_id = p.version.id
        return cls(
            sequence=Sequence.from_row(p.sequence),
            record=Record.from_row(p.record),
            version=p.version.number,
            version_status=VersionStatus(p.version.status),
            starts_at=p.schedule.start,
            assignee=User.from_row(p.assignee) if p.assignee else None,
            time_zone=p.schedule.calendar["time_zone"],
            skip_non_working_time=p.schedule.skip_non_working_time,
            send_window=SendWindow.of(_json(window.window)) if window else None,
            recipient_time_zone=window.time_zone if window else None,
            steps=[PreviewStep.of(s, version_id, registry) for s in p.timeline.steps],
            paths=[PreviewPath.of(x) for x in p.timeline.paths],
        )


def _json(window: Window) -> dict[str, object]:
    return window.to_json()
