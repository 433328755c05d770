"""A template cannot make a message of any size: refused at design time when it is too large
for any record, and the connection fails at run time when it is only too large for its record
(docs/security.md, "Templates")."""

from __future__ import annotations

from typing import Any

import pytest

from sekvens.domain.templates import MAX_TEMPLATE_OUTPUT
from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_connection_endings import lead
from tests.api.test_engine import connect, seller
from tests.conftest import Api

ACTIVATE = "activateSequence"
ERRORS = "sequence { status } errors { code field stepId message }"


def email(body: str, subject: str = "Hi {{ first_name }}") -> dict[str, Any]:
    return {"template": {"subject": subject, "body": body}}


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("Hi", "{{ first_name|center(300000000) }}", "body"),
        ("Hi", "{{ '%300000000s'|format(first_name) }}", "body"),
        ("Hi", "{{ first_name|indent(300000000, true) }}", "body"),
        ("Hi", "{% for i in range(10 ** 9) %}{{ first_name }}{% endfor %}", "body"),
        ("Hi", "{{ first_name * 100000000 }}", "body"),
        ("{{ first_name|center(1000) }}", "Hi", "subject"),
    ],
)
async def test_a_salesperson_cannot_activate_a_huge_automated_email(
    api: Api, subject: str, body: str, field: str
) -> None:
    _, token = await seller(api, "huge@example.com")
    mine = api.as_token(token)
    seq = await create(mine, "Mine", isPersonal=True)
    step = (await add(mine, seq, start_id(seq), "email.auto", email(body, subject)))["step"]
    refused = await mine.mutate(ACTIVATE, {"sequenceId": seq["id"]}, ERRORS)
    assert refused["sequence"] is None or refused["sequence"]["status"] != "ACTIVE"
    [error] = refused["errors"]
    assert (error["code"], error["stepId"], error["field"]) == (
        "TEMPLATE_TOO_LARGE",
        step["id"],
        ["template", field],
    )
    assert "too large" in error["message"]


async def test_an_unknown_or_unbounded_filter_is_a_template_error_at_design_time(
    api: Api,
) -> None:
    seq = await create(api, "Filters")
    body = "{{ first_name|tojson }} {{ first_name.ljust(300000000) }}"
    step = (await add(api, seq, start_id(seq), "email.auto", email(body)))["step"]
    refused = await api.mutate(ACTIVATE, {"sequenceId": seq["id"]}, ERRORS)
    assert [(e["code"], e["stepId"]) for e in refused["errors"]] == [("TEMPLATE_ERROR", step["id"])]


CONNECTIONS = """query($f: ConnectionFilter) { connections(filter: $f) { nodes {
  status reason errorCode error record { externalId } } } }"""


@pytest.mark.parametrize(
    ("body", "small", "huge"),
    [
        ("{{ first_name * 20000 }}", {"first_name": "Al"}, {"first_name": "A" * 100}),
        (
            "{{ first_name|center(estimated_value) }}",
            {"estimated_value": 40},
            {"estimated_value": 300000000},
        ),
    ],
)
async def test_an_email_too_large_for_its_record_ends_the_connection_with_a_reason(
    api: Api, engine: Any, body: str, small: dict[str, Any], huge: dict[str, Any]
) -> None:
    owner_id, _ = await seller(api, "runtime@example.com")
    seq = await create(api, "Sized by the record")
    await add(api, seq, start_id(seq), "email.auto", email(body))
    activated = await api.mutate(ACTIVATE, {"sequenceId": seq["id"]}, ERRORS)
    assert activated["errors"] == [], activated["errors"]
    records = [
        await lead(api, owner_id, "SMALL", email="small@example.com", **small),
        await lead(api, owner_id, "HUGE", email="huge@example.com", **huge),
    ]
    await connect(api, seq, records)
    await engine.run_until_idle()
    data = await api.ok(CONNECTIONS, {"f": {"sequenceId": seq["id"]}})
    ended = {c["record"]["externalId"]: c for c in data["connections"]["nodes"]}
    assert ended["SMALL"]["status"] == "COMPLETED"
    huge_one = ended["HUGE"]
    assert (huge_one["status"], huge_one["reason"], huge_one["errorCode"]) == (
        "ERROR",
        "STEP_FAILED",
        "TEMPLATE_TOO_LARGE",
    )
    assert "too large" in huge_one["error"]
    outbox = await api.ok("{ outbox(first: 10) { nodes { to subject text } } }")
    [message] = outbox["outbox"]["nodes"]
    assert message["to"] == "small@example.com"
    assert len(message["text"]) <= MAX_TEMPLATE_OUTPUT
