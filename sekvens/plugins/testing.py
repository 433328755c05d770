"""Test helpers for step-type plugins: contexts, fake services and sample data, so a step
type is tested without a running sekvens (docs/plugins.md, "Testing a step type").

Built on `sekvens.plugins.api` alone, like a plugin; the built-in step types' tests and the
SMS example use them. Every `make_*` takes keyword overrides for what a test cares about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from sekvens.plugins.api import (
    ActivityKind,
    ActivityStatus,
    ActivityView,
    ExecutionContext,
    FieldInfo,
    FieldType,
    MailMessage,
    RecordTypeInfo,
    RecordView,
    SenderIdentity,
    SentMessage,
    SequenceInfo,
    StepCategory,
    StepRef,
    StepType,
    ValidationContext,
)

LEAD = RecordTypeInfo(
    name="lead",
    display_name="Lead",
    fields={
        f.name: f
        for f in (
            FieldInfo("first_name", FieldType.TEXT, "First name"),
            FieldInfo("last_name", FieldType.TEXT, "Last name", required=True),
            FieldInfo("company", FieldType.TEXT, "Company"),
            FieldInfo("email", FieldType.EMAIL, "Email"),
            FieldInfo("work_email", FieldType.EMAIL, "Work email"),
            FieldInfo("phone", FieldType.PHONE, "Phone"),
            FieldInfo("mobile", FieldType.PHONE, "Mobile"),
            FieldInfo("employees", FieldType.NUMBER, "Employees"),
            FieldInfo("qualified", FieldType.BOOLEAN, "Qualified"),
            FieldInfo("rating", FieldType.OPTION_SET, "Rating", options=("hot", "warm", "cold")),
            FieldInfo("next_meeting", FieldType.DATE, "Next meeting"),
            FieldInfo("account_manager", FieldType.USER_LOOKUP, "Account manager"),
            FieldInfo("linkedin_url", FieldType.TEXT, "LinkedIn profile"),
        )
    },
    stages=("qualify", "develop", "propose", "close"),
)
"""A lead record type with one field of every type (two of EMAIL and PHONE)."""

LEAD_FIELDS: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines Ltd",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "employees": 42,
    "qualified": True,
    "rating": "warm",
    "next_meeting": "2025-02-03",
    "linkedin_url": "https://www.linkedin.com/in/ada",
}
"""Field values of the default record (`work_email`, `mobile`, `account_manager` are unset)."""

CALL_OUTCOMES = ("CONNECTED", "LEFT_VOICEMAIL", "NO_ANSWER", "WRONG_NUMBER")
NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

START = StepRef("start", "core.start", StepCategory.STEP, None, "Sequence starts here")
EMAIL_STEP = StepRef("email-1", "email.manual", StepCategory.STEP, ActivityKind.EMAIL, "Email")
CALL_STEP = StepRef("call-1", "call.phone", StepCategory.STEP, ActivityKind.CALL, "Call")
TASK_STEP = StepRef("task-1", "core.task", StepCategory.STEP, ActivityKind.TASK, "Task")
WAIT_STEP = StepRef("wait-1", "core.wait", StepCategory.STEP, None, "Wait")
THIS_STEP = StepRef("step-1", "test.step", StepCategory.STEP, None, "Step under test")

THIS_SEQUENCE = SequenceInfo("seq-1", "welcome", "Welcome", "lead", False)
OTHER_SEQUENCES = (
    SequenceInfo("seq-2", "nurture", "Nurture", "lead", True),
    SequenceInfo("seq-3", "dormant", "Dormant", "lead", False),
    SequenceInfo("seq-4", "renewal", "Renewal", "account", True),
)


class FakeClock:
    """A clock that stands still until `advance` moves it."""

    def __init__(self, now: datetime = NOW):
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@dataclass
class FakeMail:
    """Records every message; returns `<n@fake>` ids; raises `fail_with` when set. Its
    `previous_message` is `previous` when set, else the last message it sent."""

    sent: list[MailMessage] = field(default_factory=list)
    fail_with: Exception | None = None
    previous: SentMessage | None = None

    async def send(self, message: MailMessage) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)
        return f"<{len(self.sent)}@fake>"

    async def previous_message(self) -> SentMessage | None:
        if self.previous is not None or not self.sent:
            return self.previous
        last = self.sent[-1]
        references = next((v for k, v in last.headers.items() if k.lower() == "references"), "")
        return SentMessage(f"<{len(self.sent)}@fake>", last.subject, tuple(references.split()))


@dataclass
class FakeRecords:
    """Records every field update as `(name, value)` in order."""

    updates: list[tuple[str, Any]] = field(default_factory=list)

    async def set_field(self, name: str, value: Any) -> None:
        self.updates.append((name, value))


def make_record(
    fields: Mapping[str, Any] | None = None,
    *,
    stage: str | None = "qualify",
    record_type: RecordTypeInfo = LEAD,
    **overrides: Any,
) -> RecordView:
    """The default lead "Ada Lovelace" (fields `LEAD_FIELDS` unless given); another
    `record_type` names the record's type."""
    values: dict[str, Any] = {
        "id": "rec-1",
        "record_type": record_type.name,
        "external_id": "crm-1",
        "name": "Ada Lovelace",
        "fields": dict(LEAD_FIELDS if fields is None else fields),
        "stage": stage,
        "owner_user_id": "user-1",
        "owner_team_id": None,
        "is_active": True,
    }
    values.update(overrides)
    return RecordView(**values)


def make_activity(
    kind: ActivityKind | None = ActivityKind.EMAIL,
    status: ActivityStatus = ActivityStatus.COMPLETED,
    *,
    outcome: str | None = None,
    message_id: str | None = "<1@fake>",
    step_key: str = "activity-1",
    type: str = "email.manual",
) -> ActivityView:
    """A previous activity (by default a completed email with message id `<1@fake>`)."""
    return ActivityView(
        step_key=step_key,
        type=type,
        activity_kind=kind,
        status=status,
        outcome=outcome,
        message_id=message_id,
        closed_at=None if status is ActivityStatus.OPEN else NOW,
    )


def make_validation_context(
    *,
    record_type: RecordTypeInfo = LEAD,
    step_key: str = "step-1",
    sequence_id: str | None = THIS_SEQUENCE.id,
    previous_step: StepRef | None = START,
    previous_activity: StepRef | None = None,
    is_first: bool | None = None,
    followers: Iterable[StepRef] = (),
    call_outcomes: Iterable[str] = CALL_OUTCOMES,
    sequences: Iterable[SequenceInfo] = (THIS_SEQUENCE, *OTHER_SEQUENCES),
) -> ValidationContext:
    """A validation context; `is_first` defaults to "previous_step is START".

    `lookup_sequence` finds `sequences` by id or key.
    """
    known = tuple(sequences)
    return ValidationContext(
        record_type=record_type,
        step_key=step_key,
        sequence_id=sequence_id,
        previous_step=previous_step,
        previous_activity=previous_activity,
        is_first=(previous_step == START) if is_first is None else is_first,
        followers=tuple(followers),
        call_outcomes=tuple(call_outcomes),
        lookup_sequence=lambda ref: next((s for s in known if ref in (s.id, s.key)), None),
    )


def make_execution_context(
    config: BaseModel,
    *,
    record: RecordView | None = None,
    record_type: RecordTypeInfo = LEAD,
    step: StepRef = THIS_STEP,
    connection_id: str = "conn-1",
    previous_activity: ActivityView | None = None,
    state: dict[str, Any] | None = None,
    call_outcomes: Iterable[str] = CALL_OUTCOMES,
    sender: str | None = "seller@example.com",
    sender_identity: SenderIdentity | None = None,
    clock: FakeClock | None = None,
    mail: FakeMail | None = None,
    records: FakeRecords | None = None,
) -> ExecutionContext[Any]:
    """An execution context on the default record (of `record_type`) with fresh fakes
    (reach them as `ctx.clock`, `ctx.mail.sent`, `ctx.records.updates`)."""
    return ExecutionContext(
        config=config,
        record=make_record(record_type=record_type) if record is None else record,
        record_type=record_type,
        connection_id=connection_id,
        sequence_id=THIS_SEQUENCE.id,
        step=step,
        previous_activity=previous_activity,
        clock=FakeClock() if clock is None else clock,
        mail=FakeMail() if mail is None else mail,
        records=FakeRecords() if records is None else records,
        idempotency_key=f"{connection_id}:{step.key}:1",
        state={} if state is None else state,
        call_outcomes=tuple(call_outcomes),
        sender=sender,
        sender_identity=sender_identity,
    )


def parse(step_type: StepType[Any], raw: Mapping[str, Any] | None) -> Any:
    """The parsed config of `raw`, failing the test when it has problems."""
    config, problems = step_type.parse_config(raw)
    if problems or config is None:
        raise AssertionError(f"{step_type.key}: the config has problems: {problems}")
    return config


def codes(problems: Iterable[Any]) -> list[tuple[str, tuple[str, ...]]]:
    """`(code, field)` pairs of problems, for compact assertions."""
    return [(p.code.value, p.field) for p in problems]
