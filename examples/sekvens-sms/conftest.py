"""Test fixtures for sekvens-sms, built on sekvens' plugin test helpers (`sekvens.plugins.testing`).

(At the project root, this file also lets pytest import `sekvens_sms` from the source tree.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from sekvens.plugins.api import (
    ExecutionContext,
    FieldInfo,
    FieldType,
    RecordTypeInfo,
    StepRef,
    ValidationContext,
)
from sekvens.plugins.testing import (
    FakeMail,
    make_execution_context,
    make_record,
    make_validation_context,
    parse,
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


@pytest.fixture
def validation_context() -> ValidationContext:
    """The first step after START of a contact sequence."""
    return make_validation_context(record_type=CONTACT, step_key="sms-1", sequences=())


@pytest.fixture
def make_context() -> Callable[..., ExecutionContext[Any]]:
    """`make_context(step, raw_config, fields=GRACE)`: parse the config, build the context."""

    def make(step: Any, raw: Mapping[str, Any], fields: Mapping[str, Any] = GRACE):
        record = make_record(
            fields, stage=None, record_type=CONTACT, name="Grace Hopper", external_id="crm-7"
        )
        return make_execution_context(
            parse(step, raw),
            record=record,
            record_type=CONTACT,
            step=StepRef("sms-1", step.key, step.category, step.activity_kind),
            mail=FakeMail(fail_with=AssertionError("SMS steps never send email")),
        )

    return make


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh outbox file, named by SEKVENS_SMS_OUTBOX."""
    path = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("SEKVENS_SMS_OUTBOX", str(path))
    return path
