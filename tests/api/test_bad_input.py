"""Ordinary bad input gets a coded error, never INTERNAL_ERROR (issue 11, item 9).

One test per kind of bad input, through GraphQL: the code, the field it names, and that a
refused mutation wrote nothing.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from sekvens.storage.tables import ApiToken as TokenRow
from tests.api.sequences_helpers import SEQ, TASK, add, create, start_id
from tests.api.test_engine import connect, leads, seller
from tests.conftest import Api

HUGE = 2**70


def gid(type_name: str, pk: Any) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def cursor(offset: Any) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def codes(errors: list[dict[str, Any]]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in errors]


def error_code(body: dict[str, Any]) -> str | None:
    [error] = body["errors"]
    return (error.get("extensions") or {}).get("code")


async def steps_of(api: Api, seq: dict[str, Any]) -> list[str]:
    data = await api.ok(
        "query($id: ID!) { sequence(id: $id) { name description steps { key name } } }",
        {"id": seq["id"]},
    )
    s = data["sequence"]
    return [s["name"], s["description"], *(f"{x['key']}={x['name']}" for x in s["steps"])]


async def active_with_task(api: Api, name: str) -> dict[str, Any]:
    seq = await create(api, name)
    await add(api, seq, start_id(seq), "core.task", TASK)
    done = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert done["errors"] == [], done
    return seq


# --- Date-times without an offset ---------------------------------------------------------------


async def test_date_times_without_an_offset_are_refused(api: Api) -> None:
    naive = (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None).isoformat()
    # A mutation's input, as a variable.
    body = await api.gql(
        "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input)"
        " { errors { code } token { id } } }",
        {"input": {"name": "naive", "expiresAt": naive}},
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_VALUE", error
    assert error["extensions"]["field"] == ["input", "expiresAt"], error
    assert "offset" in error["message"], error
    # The same as a literal.
    body = await api.gql(
        f'mutation {{ createApiToken(input: {{name: "naive", expiresAt: "{naive}"}})'
        " { errors { code } } }"
    )
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INVALID_VALUE", "field": ["input", "expiresAt"]}
    # A filter, as a variable nested in a list-free input, and as a literal.
    body = await api.gql(
        "query($f: SequenceFilter) { sequences(filter: $f) { totalCount } }",
        {"f": {"createdAfter": "2024-01-01T10:00:00"}},
    )
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INVALID_VALUE", "field": ["f", "createdAfter"]}
    body = await api.gql('{ upNext(filter: {dueBefore: "2024-01-01T10:00"}) { totalCount } }')
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INVALID_VALUE", "field": ["filter", "dueBefore"]}
    # With an offset, or in Z, both fine; nothing was written by the refusals.
    for value in ("2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00Z"):
        data = await api.ok(
            "query($f: SequenceFilter) { sequences(filter: $f) { totalCount } }",
            {"f": {"createdAfter": value}},
        )
        assert data["sequences"]["totalCount"] == 0
    async with api.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(TokenRow).where(TokenRow.name == "naive")
        )
    assert count == 0


# --- Ids and cursors beyond the database's integer range ----------------------------------------


@pytest.mark.parametrize("number", [HUGE, 2**63, 2**31 + 1])
async def test_ids_and_cursors_beyond_the_integer_range(api: Api, number: int) -> None:
    for type_name in ("Sequence", "User", "Record", "Activity", "SequenceTarget", "Tag"):
        data = await api.ok(
            "query($id: ID!) { node(id: $id) { id } }", {"id": gid(type_name, number)}
        )
        assert data["node"] is None, type_name
    data = await api.ok(
        "query($id: ID!) { node(id: $id) { id } sequence(id: $id) { id } }",
        {"id": gid("Step", f"{number}:abc")},
    )
    assert data == {"node": None, "sequence": None}
    data = await api.ok(
        "query($id: ID!) { sequence(id: $id) { id } }", {"id": gid("Sequence", number)}
    )
    assert data["sequence"] is None
    # Mutations: NOT_FOUND on the field, as any unknown id.
    seq = await create(api, "Range")
    for name, input, field in (
        ("updateSequence", {"sequenceId": gid("Sequence", number), "name": "X"}, "sequenceId"),
        ("updateStep", {"stepId": gid("Step", f"{number}:k"), "name": "X"}, "stepId"),
        ("pauseConnection", {"connectionId": gid("SequenceTarget", number)}, "connectionId"),
        ("createApiToken", {"userId": gid("User", number)}, "userId"),
    ):
        payload = await api.mutate(name, input, "")
        assert codes(payload["errors"]) == [("NOT_FOUND", [field])], name
    payload = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": gid("Record", number)}]},
        "results { errors { code field } }",
    )
    assert payload["errors"] == [] or payload["errors"][0]["code"] != "INTERNAL_ERROR"
    # Filters with such ids answer as with any unknown id.
    query = (
        "query($f: RecordFilterInput, $g: SequenceFilter, $c: ConnectionFilter) {"
        " records(filter: $f) { totalCount } sequences(filter: $g) { totalCount }"
        " connections(filter: $c) { totalCount } }"
    )

    def variables(n: int) -> dict[str, Any]:
        return {
            "f": {"ownerUserId": gid("User", n)},
            "g": {"ownerId": gid("User", n), "tagIds": [gid("Tag", n)]},
            "c": {"sequenceId": gid("Sequence", n), "recordId": gid("Record", n)},
        }

    def outcome(body: dict[str, Any]) -> Any:
        errors = [(e["path"], e["extensions"]) for e in body.get("errors") or []]
        return errors, body.get("data")

    unknown = outcome(await api.gql(query, variables(999_999_999)))
    assert outcome(await api.gql(query, variables(number))) == unknown
    assert "INTERNAL_ERROR" not in str(unknown)
    # A cursor past the range is a page past the end: empty.
    data = await api.ok(
        "query($a: String, $b: String) { users(first: 5, after: $a) { nodes { id } }"
        " records(last: 5, before: $b) { nodes { id } } }",
        {"a": cursor(number), "b": cursor(number)},
    )
    assert data["users"]["nodes"] == []


# --- Very long search strings -------------------------------------------------------------------


async def test_very_long_search_strings(api: Api) -> None:
    long = "x" * 201
    for query, variables, field in (
        ("query($s: String) { sequences(search: $s) { totalCount } }", {"s": long}, "search"),
        ("query($s: String) { users(search: $s) { totalCount } }", {"s": long}, "search"),
        (
            "query($f: RecordFilterInput) { records(filter: $f) { totalCount } }",
            {"f": {"search": long}},
            "filter.search",
        ),
    ):
        body = await api.gql(query, variables)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "TOO_LONG", error
        assert error["extensions"]["field"] == field.split("."), error
    # 200 is fine.
    data = await api.ok(
        "query($s: String) { sequences(search: $s) { totalCount } }", {"s": "x" * 200}
    )
    assert data["sequences"]["totalCount"] == 0
    seq = await active_with_task(api, "Search")
    payload = await api.mutate(
        "connectSequenceByFilter",
        {"sequenceId": seq["id"], "filter": {"search": long}},
        "connectedCount",
    )
    assert codes(payload["errors"]) == [("TOO_LONG", ["filter", "search"])]


# --- A subscription over HTTP -------------------------------------------------------------------


async def test_a_subscription_sent_over_http_post(api: Api) -> None:
    response = await api.post("subscription { upNextChanged { id } }")
    assert response.status_code in (200, 400), response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "SUBSCRIPTION_OVER_HTTP", error
    assert "websocket" in error["message"].lower(), error


# --- createApiToken in the past -----------------------------------------------------------------


async def test_api_token_expiring_in_the_past(api: Api) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    payload = await api.mutate(
        "createApiToken", {"name": "stale", "expiresAt": past}, "token { id } secret"
    )
    assert codes(payload["errors"]) == [("INVALID_VALUE", ["expiresAt"])]
    assert payload["token"] is None and payload["secret"] is None
    async with api.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(TokenRow).where(TokenRow.name == "stale")
        )
    assert count == 0


# --- Step keys, names and descriptions ----------------------------------------------------------


async def test_step_and_sequence_text_with_control_characters_or_too_long(api: Api) -> None:
    seq = await create(api, "Texts", description="Plain")
    before = await steps_of(api, seq)
    start = start_id(seq)
    # Sequence name and description.
    for input, expected in (
        ({"name": "Bad\x01name"}, ("INVALID_VALUE", ["name"])),
        ({"name": "Bad\x1bname"}, ("INVALID_VALUE", ["name"])),
        ({"description": "Bad\x07text"}, ("INVALID_VALUE", ["description"])),
        ({"name": "x" * 161}, ("TOO_LONG", ["name"])),
        ({"description": "x" * 2001}, ("TOO_LONG", ["description"])),
    ):
        payload = await api.mutate("updateSequence", {"sequenceId": seq["id"], **input}, SEQ)
        assert codes(payload["errors"]) == [expected], input
        payload = await api.mutate("createSequence", {"name": "Fine", **input}, SEQ)
        assert codes(payload["errors"]) == [expected], input
    # Line breaks and tabs are text, not control characters to refuse.
    payload = await api.mutate(
        "createSequence", {"name": "Two", "description": "One\nTwo\r\n\tThree"}, "sequence { id }"
    )
    assert payload["errors"] == []
    # addStep / updateStep: name and description.
    for input, expected in (
        ({"name": "Call\x02"}, ("INVALID_VALUE", ["name"])),
        ({"description": "x\x7f"}, ("INVALID_VALUE", ["description"])),
        ({"name": "x" * 161}, ("TOO_LONG", ["name"])),
    ):
        payload = await api.mutate(
            "addStep",
            {
                "sequenceId": seq["id"],
                "afterStepId": start,
                "type": "core.task",
                "config": TASK,
                **input,
            },
            "step { id }",
        )
        assert codes(payload["errors"]) == [expected], input
        payload = await api.mutate("updateStep", {"stepId": start, **input}, "step { id }")
        assert codes(payload["errors"]) == [expected], input
    # setSequenceSteps: keys, names and descriptions, naming the step's index.
    start_key = seq["steps"][0]["key"]
    for step, expected in (
        ({"key": "a\x1fb"}, ("INVALID_VALUE", ["steps", "1", "key"])),
        ({"key": "k" * 65}, ("TOO_LONG", ["steps", "1", "key"])),
        ({"name": "\x01"}, ("INVALID_VALUE", ["steps", "1", "name"])),
        ({"description": "x" * 2001}, ("TOO_LONG", ["steps", "1", "description"])),
    ):
        payload = await api.mutate(
            "setSequenceSteps",
            {
                "sequenceId": seq["id"],
                "steps": [
                    {"key": start_key, "type": "core.start"},
                    {"key": "task", "type": "core.task", "config": TASK, "parentKey": start_key}
                    | step,
                ],
            },
            SEQ,
        )
        assert codes(payload["errors"]) == [expected], step
    assert await steps_of(api, seq) == before


async def test_a_draft_far_beyond_the_step_limit(api: Api) -> None:
    seq = await create(api, "Huge")
    before = await steps_of(api, seq)
    start_key = seq["steps"][0]["key"]
    steps = [{"key": start_key, "type": "core.start"}] + [
        {"key": f"s{i}", "type": "core.task", "config": TASK, "parentKey": f"s{i - 1}"}
        for i in range(10_000)
    ]
    steps[1]["parentKey"] = start_key
    payload = await api.mutate("setSequenceSteps", {"sequenceId": seq["id"], "steps": steps}, "")
    assert codes(payload["errors"]) == [("TOO_MANY_STEPS", ["steps"])]
    assert await steps_of(api, seq) == before


async def test_step_input_branch_defaults_to_next(api: Api) -> None:
    seq = await create(api, "Branches")
    start_key = seq["steps"][0]["key"]
    payload = await api.mutate(
        "setSequenceSteps",
        {
            "sequenceId": seq["id"],
            "steps": [
                {"key": start_key, "type": "core.start"},
                {"key": "task", "type": "core.task", "config": TASK, "parentKey": start_key},
            ],
        },
        SEQ,
    )
    assert payload["errors"] == [], payload
    [task] = [s for s in payload["sequence"]["steps"] if s["key"] == "task"]
    assert task["branch"] == "NEXT"


# --- Records and record types -------------------------------------------------------------------


async def test_a_template_with_a_contradicting_record_type(api: Api) -> None:
    templates = await api.ok("{ sequenceTemplates { id recordType } }")
    opportunity = next(
        t for t in templates["sequenceTemplates"] if t["recordType"] == "opportunity"
    )
    before = await api.ok("{ sequences { totalCount } }")
    payload = await api.mutate(
        "createSequence",
        {"name": "Mixed", "templateId": opportunity["id"], "recordType": "lead"},
        "sequence { id }",
    )
    assert codes(payload["errors"]) == [("WRONG_RECORD_TYPE", ["recordType"])]
    assert await api.ok("{ sequences { totalCount } }") == before
    # Left out, or the same: the template's.
    for extra in ({}, {"recordType": "opportunity"}):
        payload = await api.mutate(
            "createSequence",
            {"name": "Template's", "templateId": opportunity["id"], **extra},
            "sequence { recordType { name } }",
        )
        assert payload["errors"] == [], payload
        assert payload["sequence"]["recordType"]["name"] == "opportunity"


async def test_a_record_reference_naming_two_records(api: Api) -> None:
    owner_id, _ = await seller(api, "bad-ref@example.com")
    first, _second = await leads(api, owner_id, 2, prefix="R")
    seq = await active_with_task(api, "Refs")
    payload = await api.mutate(
        "connectSequence",
        {
            "sequenceId": seq["id"],
            "records": [{"id": first, "recordType": "lead", "externalId": "R1"}],
        },
        "connectedCount results { index errors { code field } connection { id } }",
    )
    [result] = payload["results"]
    assert result["connection"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [
        ("INVALID_VALUE", ["records", "0", "externalId"])
    ]
    assert payload["connectedCount"] == 0
    # Agreeing id and external id are fine.
    [ok] = await connect(api, seq, [first])
    assert ok["errors"] == []


async def test_an_unknown_record_type_in_a_filter(api: Api) -> None:
    body = await api.gql('{ records(filter: {recordType: "nope"}) { totalCount } }')
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNKNOWN_RECORD_TYPE", "field": ["filter", "recordType"]}
    body = await api.gql('{ sequences(filter: {recordType: "nope"}) { totalCount } }')
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNKNOWN_RECORD_TYPE", "field": ["filter", "recordType"]}
    seq = await active_with_task(api, "Filter")
    payload = await api.mutate(
        "connectSequenceByFilter",
        {"sequenceId": seq["id"], "filter": {"recordType": "nope"}},
        "connectedCount",
    )
    assert codes(payload["errors"]) == [("UNKNOWN_RECORD_TYPE", ["filter", "recordType"])]


# --- Pausing and resuming -----------------------------------------------------------------------


async def test_pausing_a_paused_and_resuming_a_running_connection_answer_alike(
    api: Api,
) -> None:
    owner_id, _ = await seller(api, "pause-twice@example.com")
    seq = await active_with_task(api, "Twice")
    [result] = await connect(api, seq, await leads(api, owner_id, 1, prefix="P"))
    conn = result["connection"]["id"]
    resumed = await api.mutate("resumeConnection", {"connectionId": conn}, "connection { id }")
    paused = await api.mutate("pauseConnection", {"connectionId": conn}, "connection { status }")
    assert paused["errors"] == []
    again = await api.mutate("pauseConnection", {"connectionId": conn}, "connection { status }")
    assert (
        codes(resumed["errors"]) == codes(again["errors"]) == [("INVALID_VALUE", ["connectionId"])]
    )


# --- GraphQL's own errors -----------------------------------------------------------------------


async def test_parse_and_validation_errors_carry_a_code(api: Api) -> None:
    body = await api.gql("{ viewer { ")
    assert error_code(body) == "GRAPHQL_PARSE_FAILED"
    body = await api.gql("{ viewer { nope } }")
    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED"
    body = await api.gql("query($n: Int) { users(first: $n) { totalCount } }", {"n": "ten"})
    assert error_code(body) == "INVALID_VALUE"
    body = await api.gql('{ users(first: "ten") { totalCount } }')
    assert error_code(body) == "GRAPHQL_VALIDATION_FAILED"


# --- Logging and metrics ------------------------------------------------------------------------


async def test_client_errors_are_not_logged_as_errors(
    api: Api, app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = app.state.services.metrics

    def internal() -> float:
        return metrics.errors.labels("INTERNAL_ERROR")._value.get()

    before = internal()
    with caplog.at_level(logging.DEBUG):
        await api.gql("{ viewer { ")
        await api.gql("{ viewer { nope } }")
        await api.gql('{ node(id: "U2VxdWVuY2U6MTE4MDU5MTYyMDcxNzQxMTMwMzQyNA") { id } }')
        await api.gql(
            "query($f: SequenceFilter) { sequences(filter: $f) { totalCount } }",
            {"f": {"createdAfter": "2024-01-01T10:00:00"}},
        )
        await api.post("subscription { upNextChanged { id } }")
        await api.mutate("updateSequence", {"sequenceId": gid("Sequence", HUGE)}, "")
    assert internal() == before
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r for r in caplog.records if r.exc_info] == []
