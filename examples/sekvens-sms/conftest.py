"""Test helpers for sekvens-sms: contexts built from `sekvens.plugins.api` alone.

(At the project root, this file also lets pytest import `sekvens_sms` from the source tree.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sekvens.plugins.api import (
    ExecutionContext,
    FieldInfo,
    FieldType,
    MailMessage,
    RecordTypeInfo,
    RecordView,
    StepCategory,
    StepRef,
    ValidationContext,
)

CONTACT = RecordTypeInfo(
    "contact",
    "Contact",
    {
        f.name: f
        for f in (
            FieldInfo("first_name", FieldType.TEXT, "First name"),
            FieldInfo("email", FieldType.EMAIL, "Email"),
            FieldInfo("mobile_phone", FieldType.PHONE, "Mobile phone"),
            FieldInfo("phone", FieldType.PHONE, "Business phone"),
        )
    },
)
GRACE = {"first_name": "Grace", "mobile_phone": "+1 555 0100", "email": "grace@example.com"}
START = StepRef("start", "core.start", StepCategory.STEP, None, "Sequence starts here")


class FixedClock:
    def now(self) -> datetime:
        return datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


class NoMail:
    async def send(self, message: MailMessage) -> str:
        raise AssertionError("SMS steps never send email")


class NoRecordUpdates:
    async def set_field(self, name: str, value: Any) -> None:
        raise AssertionError("SMS steps never update records")


@pytest.fixture
def validation_context() -> ValidationContext:
    """The first step after START of a contact sequence."""
    return ValidationContext(
        record_type=CONTACT,
        step_key="sms-1",
        sequence_id="seq-1",
        previous_step=START,
        previous_activity=None,
        is_first=True,
        followers=(),
        call_outcomes=(),
        lookup_sequence=lambda ref: None,
    )


@pytest.fixture
def make_context() -> Callable[..., ExecutionContext[Any]]:
    """`make_context(step, raw_config, fields=GRACE)`: parse the config, build the context."""

    def make(step: Any, raw: Mapping[str, Any], fields: Mapping[str, Any] = GRACE):
        config, problems = step.parse_config(raw)
        assert problems == []
        return ExecutionContext(
            config=config,
            record=RecordView(
                id="rec-1",
                record_type="contact",
                external_id="crm-7",
                name="Grace Hopper",
                fields=dict(fields),
                stage=None,
                owner_user_id="user-1",
                owner_team_id=None,
                is_active=True,
            ),
            record_type=CONTACT,
            connection_id="conn-1",
            sequence_id="seq-1",
            step=StepRef("sms-1", step.key, step.category, step.activity_kind),
            previous_activity=None,
            clock=FixedClock(),
            mail=NoMail(),
            records=NoRecordUpdates(),
            idempotency_key="conn-1:sms-1:1",
            sender="seller@example.com",
        )

    return make


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh outbox file, named by SEKVENS_SMS_OUTBOX."""
    path = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("SEKVENS_SMS_OUTBOX", str(path))
    return path
