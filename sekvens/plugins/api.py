"""The step-type plugin contract: everything a step-type plugin may import from sekvens.

A plugin is a `StepType` instance registered under the entry-point group `sekvens.step_types`
with the entry-point name equal to its `key`::

    [project.entry-points."sekvens.step_types"]
    "sms.send" = "sekvens_sms:send"

Lifecycle of a step:

1. Designing: sekvens calls `parse_config(raw)` on the stored JSON config, then
   `validate(config, context)` with the step's place in the sequence graph
   (`ValidationContext`). Both return `Problem`s; a field path is relative to the config
   (`("template", "subject")`).
2. Running: when a connection reaches the step, the engine calls `execute(ctx)` and applies the
   returned outcome (`CreateActivity`, `Done`, `WaitFor`, ...). A condition that returns
   `WaitForEvents` then gets `on_event(ctx, event)` per matching engagement event and
   `on_deadline(ctx)` when the time limit passes. `ctx.state` is kept between those calls.
3. Record changes: while a connection waits at a step (`WaitForEvents`, `WaitFor`,
   `WaitUntil`), a step type that overrides `on_record_change(ctx, change)` hears every change
   `upsertRecords` makes to the record (`RecordChange`) and may return an outcome (take a
   branch, exit, ...) as `on_event` does, in the same transaction as the upsert.
4. Previewing: the timeline preview (`sequencePreview`) asks `preview(config, context)`
   (`PreviewContext`) how the step would schedule for a record, without running it, and
   returns a `StepPreview`: an activity or not, an automated email, and when each branch
   starts (`PreviewPath`). The default reads the class attributes; override it when the
   step waits, decides at a time of its own, or ends the connection.

Plugins do side effects only through the services on `ExecutionContext` (`mail`, `records`,
`clock`), so the engine stays in charge of transactions and idempotency. An exception raised
by a plugin puts the connection in error; expected situations should be outcomes instead.

Helpers: `check_template` / `render_template` / `template_fields` for merge-field templates
(`{{ first_name }}`; see `ExecutionContext.template_values`; a render's output is capped,
`MAX_TEMPLATE_OUTPUT` by default, and `TemplateProblem.code` says TEMPLATE_TOO_LARGE when a
bound stopped it), and `check_value(field_info,
value, path)`, which says why a value does not fit a record field (a `Problem`) or returns None.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeAlias, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.records import FieldInfo, FieldType, RecordTypeInfo, check_value
from sekvens.domain.sender_identity import SenderIdentity
from sekvens.domain.steps import ActivityKind, Branch, EventKind, StepCategory
from sekvens.domain.templates import (
    MAX_SUBJECT_OUTPUT,
    MAX_TEMPLATE_OUTPUT,
    TEMPLATE_GLOBALS,
    TemplateProblem,
    check_template,
    render_template,
    template_fields,
)

__all__ = [
    "MAX_REFERENCES",
    "MAX_SUBJECT_OUTPUT",
    "MAX_TEMPLATE_OUTPUT",
    "START_STEP_TYPE",
    "TEMPLATE_GLOBALS",
    "ActivityKind",
    "ActivityStatus",
    "ActivityView",
    "Branch",
    "Clock",
    "CreateActivity",
    "Done",
    "EngagementEvent",
    "ErrorCode",
    "EventKind",
    "ExecutionContext",
    "Exit",
    "Fail",
    "FieldInfo",
    "FieldType",
    "HandOver",
    "MailMessage",
    "MailTransport",
    "Outcome",
    "PreviewContext",
    "PreviewPath",
    "Problem",
    "RecipientOptedOut",
    "RecordChange",
    "RecordTypeInfo",
    "RecordUpdater",
    "RecordView",
    "SenderIdentity",
    "SentMessage",
    "SequenceInfo",
    "StepCategory",
    "StepConfig",
    "StepPreview",
    "StepRef",
    "StepType",
    "TakeBranch",
    "TemplateProblem",
    "ValidationContext",
    "WaitFor",
    "WaitForEvents",
    "WaitUntil",
    "check_template",
    "check_value",
    "render_template",
    "template_fields",
]

START_STEP_TYPE = "core.start"
"""Type key of the "Sequence starts here" step that begins every sequence."""


class ActivityStatus(StrEnum):
    """An earlier activity's status as a step sees it: one closed because its connection
    ended (CANCELED in `sekvens.domain.life_cycles`) reads as SKIPPED."""

    OPEN = "OPEN"
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"


# --- What validation sees ------------------------------------------------------------------


@dataclass(frozen=True)
class StepRef:
    """Another step of the same sequence, as validation and execution see it."""

    key: str
    type: str
    category: StepCategory
    activity_kind: ActivityKind | None
    name: str = ""


@dataclass(frozen=True)
class SequenceInfo:
    """A sequence of the organization (for rules such as "advance to another sequence")."""

    id: str
    key: str
    name: str
    record_type: str
    is_active: bool


@dataclass(frozen=True)
class ValidationContext:
    """The place of the step being validated in its sequence.

    - `previous_step`: the step immediately before (the START step included, so `is_first`
      is true exactly when `previous_step` is the START step); None for START itself.
    - `previous_activity`: the nearest preceding step on the path from START whose
      `activity_kind` is not None.
    - `followers`: the steps directly after this one, on any branch.
    - `call_outcomes`: the organization's call outcomes.
    - `lookup_sequence(id_or_key)`: a sequence of the organization by id or stable key, or None.
    """

    record_type: RecordTypeInfo
    step_key: str
    sequence_id: str | None
    previous_step: StepRef | None
    previous_activity: StepRef | None
    is_first: bool
    followers: tuple[StepRef, ...]
    call_outcomes: tuple[str, ...]
    lookup_sequence: Callable[[str], SequenceInfo | None]


# --- What execution sees -------------------------------------------------------------------


@dataclass(frozen=True)
class RecordView:
    """The connected record: `fields` maps field names to values (absent = no value)."""

    id: str
    record_type: str
    external_id: str
    name: str
    fields: Mapping[str, Any]
    stage: str | None
    owner_user_id: str | None
    owner_team_id: str | None
    is_active: bool


@dataclass(frozen=True)
class ActivityView:
    """An activity created earlier for this connection (e.g. the email a condition checks)."""

    step_key: str
    type: str
    activity_kind: ActivityKind | None
    status: ActivityStatus
    outcome: str | None
    message_id: str | None
    closed_at: datetime | None


@dataclass(frozen=True)
class EngagementEvent:
    """Something the recipient did; `kind` is an `EventKind` value."""

    event_id: str
    kind: str
    occurred_at: datetime
    message_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordChange:
    """What `upsertRecords` changed on the connected record: each changed field with its value
    before and after (absent = no value), and the stage before and after (equal when it did
    not change). `ctx.record` already shows the record after the change."""

    fields: Mapping[str, tuple[Any, Any]]
    stage_before: str | None
    stage_after: str | None

    @property
    def stage_changed(self) -> bool:
        return self.stage_before != self.stage_after


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None
    from_address: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    #: The sender's display name and Reply-To address (`ExecutionContext.sender_identity`).
    from_name: str | None = None
    reply_to: str | None = None
    #: The A/B variant of its step the message is ("A" to "D"); None: no test.
    variant: str | None = None


MAX_REFERENCES = 10
"""Message ids a reply's References header keeps: the thread's first and the latest ones."""


@dataclass(frozen=True)
class SentMessage:
    """An automated email sent earlier on the connection, to reply to in the same thread
    (`MailTransport.previous_message`). `references` is its own References header."""

    message_id: str
    subject: str
    references: tuple[str, ...] = ()

    def reply_subject(self) -> str:
        """Its subject as a reply's: prefixed "Re: " unless it has one, at most
        `MAX_SUBJECT_OUTPUT` characters."""
        subject = self.subject.strip()
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        return subject[:MAX_SUBJECT_OUTPUT]

    def reply_headers(self) -> dict[str, str]:
        """In-Reply-To and References of a reply to it (RFC 5322 section 3.6.4): its
        References then its Message-ID, at most `MAX_REFERENCES` (the first and the latest)."""
        chain = [r for r in self.references if r != self.message_id] + [self.message_id]
        if len(chain) > MAX_REFERENCES:
            chain = [chain[0], *chain[1 - MAX_REFERENCES :]]
        return {"In-Reply-To": self.message_id, "References": " ".join(chain)}


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class RecipientOptedOut(Exception):
    """Raised by `MailTransport.send` when the recipient must not get automated email: the
    record is marked "do not email", or the address is on the organization's suppression
    list. A plugin lets it propagate; the engine then ends the connection (OPTED_OUT) or,
    when the sequence says so, skips the step."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MailTransport(Protocol):
    async def send(self, message: MailMessage) -> str:
        """Send `message` and return its message id.

        The engine makes sending idempotent by `message.idempotency_key`: sending again with
        the same key returns the first message id without sending twice. Raises
        `RecipientOptedOut` for a recipient who opted out.
        """
        ...

    async def previous_message(self) -> SentMessage | None:
        """The latest automated email of this connection before this step's (one stored,
        queued or sent; not one that failed or was canceled), to reply to in its thread;
        None when there is none."""
        ...


class RecordUpdater(Protocol):
    async def set_field(self, name: str, value: Any) -> None:
        """Set a field of the connected record (in the engine's transaction)."""
        ...


# --- Outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateActivity:
    """Manual work: the engine creates an activity for the assignees; completing it follows
    NEXT. `data` is shown to the seller (e.g. a rendered email draft)."""

    subject: str
    instructions: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """Automatic work finished; follow `branch`."""

    branch: Branch = Branch.NEXT


@dataclass(frozen=True)
class WaitFor:
    """Wait `duration` (the engine applies working-time rules), then follow NEXT."""

    duration: timedelta


@dataclass(frozen=True)
class WaitUntil:
    """Wait until `at` (timezone-aware), then follow NEXT."""

    at: datetime


@dataclass(frozen=True)
class WaitForEvents:
    """Wait for engagement events of `kinds` on the previous activity's message; the engine
    calls `on_event` per event and `on_deadline` once `deadline` has passed."""

    kinds: frozenset[EventKind]
    deadline: timedelta


@dataclass(frozen=True)
class TakeBranch:
    """Follow `branch` now."""

    branch: Branch


@dataclass(frozen=True)
class Exit:
    """Leave the sequence: the connection ends as DISCONNECTED with reason
    EXIT_CRITERION_MET; `reason` is kept on the connection as its detail."""

    reason: str = ""


@dataclass(frozen=True)
class Fail:
    """The step cannot run for this record, and a manager must act: the connection ends in
    ERROR. `code` is a connection reason (such as NO_EMAIL_ADDRESS) or, for anything else,
    kept as the connection's error code under reason STEP_FAILED; `message` says what to do."""

    message: str
    code: str = "STEP_FAILED"


@dataclass(frozen=True)
class HandOver:
    """Disconnect (ADVANCED_TO_OTHER_SEQUENCE) and connect the record to `sequence` (id or key)."""

    sequence: str


Outcome: TypeAlias = (
    CreateActivity
    | Done
    | WaitFor
    | WaitUntil
    | WaitForEvents
    | TakeBranch
    | Exit
    | Fail
    | HandOver
)

# --- Timeline preview ----------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewContext:
    """What `StepType.preview` sees: the record the timeline is for (as it is now), its record
    type, the step and the nearest preceding step with an activity kind (as validation sees
    them), and the organization's call outcomes."""

    record: RecordView
    record_type: RecordTypeInfo
    step: StepRef
    previous_activity: StepRef | None
    call_outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreviewPath:
    """A branch out of a step in the timeline preview, and when it starts.

    Counted from when the step is reached (or, for a step with an activity, when the activity
    is completed): at once; after `wait` under the engine's rule for `WaitFor` and condition
    time limits (working days and hours of the assignee's calendar with "skip non-working
    time"); or at `until` (as `WaitUntil`). `assumes` says what must happen for the
    connection to take this branch then ("the recipient opens the email within 2 days");
    `expected` marks the branch the record would take with its values as they are now;
    `needs_sent_email`: the branch needs engagement events on the previous step's automated
    email, so it is impossible when that email goes out (its send window) only when the
    branch would start or later.
    """

    branch: Branch = Branch.NEXT
    wait: timedelta | None = None
    until: datetime | None = None
    assumes: str = ""
    expected: bool = False
    needs_sent_email: bool = False


@dataclass(frozen=True)
class StepPreview:
    """How a step would schedule for a record, for the timeline preview (`StepType.preview`).

    - `activity`: the step creates an activity for the assignee; it is due in the assignee's
      working calendar, and `paths` count from its completion (assumed: when it is due).
    - `email_to`: the step sends an automated email to this address; it goes out in the
      recipient's send window, and `paths` count from when the step is reached.
    - `paths`: the branches that may follow and when each starts; none: the connection ends.
    - `ends`: the connection ends at this step, with this reason (a `Fail` code or a
      connection reason such as ADVANCED_TO_OTHER_SEQUENCE); `note` says more.
    - `assumes`: what the preview takes for granted about the step itself.
    """

    activity: bool = False
    email_to: str | None = None
    paths: tuple[PreviewPath, ...] = (PreviewPath(),)
    ends: str | None = None
    note: str = ""
    assumes: str = ""


# --- Step types ----------------------------------------------------------------------------


class StepConfig(BaseModel):
    """Convenient base for config models: unknown keys are refused, instances are immutable.

    Use it as is for a step type without configuration.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=BaseModel)


@dataclass
class ExecutionContext(Generic[ConfigT]):
    """Everything `execute`, `on_event` and `on_deadline` get.

    `config` is the parsed config model; `idempotency_key` is stable for this step of this
    connection (pass it on side effects); `state` is persisted by the engine between the calls
    for this step; `sender` is the assignee's email address (for the from-address; the
    organization's sender address when there is no assignee); `sender_identity` is the whole
    identity to send with (display name, Reply-To, signature: the assignee's own, else the
    organization's default).
    """

    config: ConfigT
    record: RecordView
    record_type: RecordTypeInfo
    connection_id: str
    sequence_id: str
    step: StepRef
    previous_activity: ActivityView | None
    clock: Clock
    mail: MailTransport
    records: RecordUpdater
    idempotency_key: str
    state: dict[str, Any] = field(default_factory=dict)
    call_outcomes: tuple[str, ...] = ()
    sender: str | None = None
    sender_identity: SenderIdentity | None = None

    def template_values(self) -> dict[str, Any]:
        """Variables for `render_template`: every field of the record type (None when the
        record has no value), `record` (name, external_id) and `sender` (email, name,
        reply_to, signature)."""
        values: dict[str, Any] = {
            name: self.record.fields.get(name) for name in self.record_type.fields
        }
        values["record"] = {"name": self.record.name, "external_id": self.record.external_id}
        identity = self.sender_identity or SenderIdentity(self.sender)
        values["sender"] = {
            "email": self.sender,
            "name": identity.name,
            "reply_to": identity.reply_to,
            "signature": identity.signature,
        }
        return values


class StepType(ABC, Generic[ConfigT]):
    """Base class of step-type plugins. Subclass it, set the class attributes, implement
    `execute`, and register an instance (or the class) under `sekvens.step_types`.

    - `key`: stable and unique, `<plugin>.<name>` (e.g. `sms.send`); the entry-point name.
    - `config_model`: a pydantic model (see `StepConfig`); its JSON Schema builds the SPA form.
    - `branches`: the paths that may follow; `()` when nothing may follow the step.
    - `activity_kind`: the seller activity the step is, if any (conditions check it).
    - `automatic`: True when the step runs without a seller.
    """

    key: ClassVar[str]
    category: ClassVar[StepCategory]
    display_name: ClassVar[str]
    description: ClassVar[str]
    version: ClassVar[str] = "1.0.0"
    config_model: ClassVar[type[BaseModel]]
    branches: ClassVar[tuple[Branch, ...]] = (Branch.NEXT,)
    activity_kind: ClassVar[ActivityKind | None] = None
    automatic: ClassVar[bool]

    def config_schema(self) -> dict[str, Any]:
        """JSON Schema of `config_model`."""
        return self.config_model.model_json_schema()

    def parse_config(self, raw: Mapping[str, Any] | None) -> tuple[ConfigT | None, list[Problem]]:
        """Parse a stored config (None = empty) into `config_model`.

        Returns `(config, [])`, or `(None, problems)` with each pydantic error at its field
        path: REQUIRED for a missing value, INVALID_CONFIG otherwise.
        """
        try:
            config = self.config_model.model_validate({} if raw is None else raw)
        except ValidationError as exc:
            return None, [
                Problem(
                    ErrorCode.REQUIRED if err["type"] == "missing" else ErrorCode.INVALID_CONFIG,
                    err["msg"],
                    tuple(str(part) for part in err["loc"]),
                )
                for err in exc.errors()
            ]
        # `config_model` is a ClassVar, which cannot name ConfigT; it holds ConfigT's class.
        return cast(ConfigT, config), []

    def validate(self, config: ConfigT, context: ValidationContext) -> list[Problem]:
        """Graph- and record-type-aware rules beyond the config model; none by default."""
        return []

    @abstractmethod
    async def execute(self, ctx: ExecutionContext[ConfigT]) -> Outcome:
        """Run the step for a connection that reached it."""

    async def on_event(
        self, ctx: ExecutionContext[ConfigT], event: EngagementEvent
    ) -> Outcome | None:
        """React to an engagement event while waiting (`WaitForEvents`); None keeps waiting."""
        return None

    async def on_deadline(self, ctx: ExecutionContext[ConfigT]) -> Outcome:
        """The wait's time limit passed; by default follow NO."""
        return TakeBranch(Branch.NO)

    async def on_record_change(
        self, ctx: ExecutionContext[ConfigT], change: RecordChange
    ) -> Outcome | None:
        """React to a change of the record while the connection waits at this step (after
        its `execute` returned a wait); None (the default) keeps waiting."""
        return None

    def preview(self, config: ConfigT, context: PreviewContext) -> StepPreview:
        """How the step would schedule for `context.record`, for the timeline preview; pure
        (no I/O, no side effects, no clock). The default: a step that is not `automatic`
        creates an activity and follows NEXT when it is completed; an automatic one finishes
        at once. A step type with several branches and no `preview` of its own is shown
        taking each at once, saying so in `assumes`; one without branches ends the path."""
        if len(self.branches) > 1:
            paths = tuple(
                PreviewPath(
                    b,
                    assumes=f"{self.display_name} takes {b.value} (its step type does not say"
                    " when it decides: shown at once)",
                )
                for b in self.branches
            )
        else:
            paths = tuple(PreviewPath(b) for b in self.branches)
        return StepPreview(activity=not self.automatic, paths=paths)

    @classmethod
    def hears_record_changes(cls) -> bool:
        """Whether the step type overrides `on_record_change`."""
        return cls.on_record_change is not StepType.on_record_change
