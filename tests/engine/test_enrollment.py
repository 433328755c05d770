"""Automatic enrollment (segments) through GraphQL, with a moved clock: a record upserted
so that it starts matching a rule of an active sequence is connected once (enrolledBy), and
again only when the rule allows it and after its gap; refusals of the connect rules connect
nothing and the upsert succeeds; setEnrollmentRules refuses bad rules with their paths and
changes nothing; a batch costs the same statements whatever its size."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from sekvens.domain.global_ids import from_global_id
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api, MovableClock
from tests.engine.helpers import activate, seller

RULES = "sequence { enrollmentRules { key name filter { stage ownerUserId search externalIds }"
RULES += " fieldConditions { field operator value } allowReenrollment reenrollAfterDays } }"
HOT = {"field": "rating", "operator": "EQUALS", "value": "Hot"}


async def segment(api: Api, *rules: dict[str, Any], active: bool = True) -> dict[str, Any]:
    seq = await create(api, "Segment")
    await add(api, seq, start_id(seq), "core.task", {"subject": "Call"})
    if active:
        await activate(api, seq)
    payload = await api.mutate(
        "setEnrollmentRules", {"sequenceId": seq["id"], "rules": list(rules)}, RULES
    )
    assert payload["errors"] == [], payload["errors"]
    return seq


async def upsert(api: Api, owner: str, *records: dict[str, Any]) -> None:
    items = [{"recordType": "lead", "ownerUserId": owner, **r} for r in records]
    payload = await api.mutate("upsertRecords", {"records": items}, "results { created }")
    assert payload["errors"] == [], payload["errors"]
    assert len(payload["results"]) == len(items)


async def targets(api: Api, seq: dict[str, Any]) -> list[dict[str, Any]]:
    data = await api.ok(
        "query($f: ConnectionFilter) { connections(filter: $f, first: 100) { nodes {"
        " id status enrolledBy record { externalId } } } }",
        {"f": {"sequenceId": seq["id"]}},
    )
    return sorted(data["connections"]["nodes"], key=lambda c: key_of(c["id"]))


def key_of(global_id: str) -> int:
    return int(from_global_id(global_id)[1])


async def disconnect(api: Api, connection: dict[str, Any]) -> None:
    payload = await api.mutate(
        "disconnectSequence", {"connectionId": connection["id"]}, "connection { status }"
    )
    assert payload["errors"] == [], payload["errors"]


async def test_a_record_that_starts_matching_is_connected_once_and_again_after_the_gap(
    api: Api, clock: MovableClock
) -> None:
    seq = await segment(
        api,
        {
            "key": "hot",
            "fieldConditions": [HOT],
            "allowReenrollment": True,
            "reenrollAfterDays": 10,
        },
    )
    owner, _ = await seller(api)
    await upsert(api, owner, {"externalId": "E1", "fields": {"rating": "Cold"}})
    assert await targets(api, seq) == []
    await upsert(api, owner, {"externalId": "E1", "fields": {"rating": "Hot"}})
    (first,) = await targets(api, seq)
    assert (first["enrolledBy"], first["status"]) == ("hot", "CONNECTED")
    # still matching: no second connection, even after a change elsewhere
    await upsert(api, owner, {"externalId": "E1", "name": "Renamed", "fields": {"rating": "Hot"}})
    assert len(await targets(api, seq)) == 1
    # ended, stops and starts matching again within the gap: not again
    await disconnect(api, first)
    clock.advance(timedelta(days=9, hours=23))
    await upsert(api, owner, {"externalId": "E1", "fields": {"rating": "Cold"}})
    await upsert(api, owner, {"externalId": "E1", "fields": {"rating": "Hot"}})
    assert [c["id"] for c in await targets(api, seq)] == [first["id"]]
    # after the gap: a new match connects it again
    clock.advance(timedelta(hours=2))
    await upsert(api, owner, {"externalId": "E1", "fields": {"rating": "Cold"}})
    await upsert(api, owner, {"externalId": "E1", "fields": {"rating": "Hot"}})
    _, second = await targets(api, seq)
    assert (second["enrolledBy"], second["status"]) == ("hot", "CONNECTED")


async def test_without_reenrollment_a_rule_enrolls_a_record_once_ever(
    api: Api, clock: MovableClock
) -> None:
    seq = await segment(api, {"key": "hot", "name": "Hot leads", "fieldConditions": [HOT]})
    owner, _ = await seller(api)
    await upsert(api, owner, {"externalId": "O1", "fields": {"rating": "Hot"}})
    (first,) = await targets(api, seq)
    assert first["enrolledBy"] == "hot"
    # stops and starts matching while connected: nothing new
    await upsert(api, owner, {"externalId": "O1", "fields": {"rating": "Warm"}})
    await upsert(api, owner, {"externalId": "O1", "fields": {"rating": "Hot"}})
    assert len(await targets(api, seq)) == 1
    # ended: still not again, however long after
    await disconnect(api, first)
    clock.advance(timedelta(days=400))
    await upsert(api, owner, {"externalId": "O1", "fields": {"rating": "Warm"}})
    await upsert(api, owner, {"externalId": "O1", "fields": {"rating": "Hot"}})
    assert [c["id"] for c in await targets(api, seq)] == [first["id"]]


async def test_the_filter_and_the_record_state_decide_a_match(api: Api) -> None:
    owner, _ = await seller(api)
    other, _ = await seller(api)
    rule = {
        "key": "develop",
        "filter": {"stage": "Develop", "ownerUserId": owner, "search": "acme"},
        "fieldConditions": [{"field": "estimated_value", "operator": "GREATER_THAN", "value": 100}],
    }
    seq = await segment(api, rule)
    await upsert(
        api,
        owner,
        {
            "externalId": "F1",
            "name": "Acme Oy",
            "stage": "Qualify",
            "fields": {"estimated_value": 500},
        },
        {
            "externalId": "F2",
            "name": "Acme AB",
            "stage": "Develop",
            "fields": {"estimated_value": 50},
        },
        {
            "externalId": "F3",
            "name": "Other",
            "stage": "Develop",
            "fields": {"estimated_value": 500},
        },
        {
            "externalId": "F4",
            "name": "Acme Inc",
            "stage": "Develop",
            "isActive": False,
            "fields": {"estimated_value": 500},
        },
    )
    await upsert(
        api,
        other,
        {
            "externalId": "F5",
            "name": "Acme GmbH",
            "stage": "Develop",
            "fields": {"estimated_value": 500},
        },
    )
    assert await targets(api, seq) == []
    # each starts matching: a stage change, a value change, a reactivation, a new owner
    await upsert(
        api,
        owner,
        {"externalId": "F1", "stage": "Develop"},
        {"externalId": "F2", "fields": {"estimated_value": 101}},
        {"externalId": "F3", "name": "ACME Ltd"},
        {"externalId": "F4", "isActive": True},
        {"externalId": "F5"},
    )
    got = await targets(api, seq)
    assert sorted(c["record"]["externalId"] for c in got) == ["F1", "F2", "F3", "F4", "F5"]
    assert {c["enrolledBy"] for c in got} == {"develop"}


async def test_refusals_connect_nothing_and_the_upsert_succeeds(api: Api) -> None:
    owner, _ = await seller(api)
    seq = await segment(api, {"key": "hot", "fieldConditions": [HOT]})
    inactive = await segment(api, {"key": "hot", "fieldConditions": [HOT]}, active=False)
    # already connected by a user: ALREADY_CONNECTED, not an error of the upsert
    await upsert(api, owner, {"externalId": "R1", "fields": {"rating": "Cold"}})
    record = await api.ok(
        '{ records(filter: {externalIds: ["R1"]}, first: 5) { nodes { id externalId } } }'
    )
    (node,) = [n for n in record["records"]["nodes"] if n["externalId"] == "R1"]
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": node["id"]}]},
        "results { errors { code } }",
    )
    assert connected["errors"] == []
    await upsert(api, owner, {"externalId": "R1", "fields": {"rating": "Hot"}})
    (by_user,) = await targets(api, seq)
    assert by_user["enrolledBy"] is None
    # an inactive record, and another record type, connect nothing
    await upsert(api, owner, {"externalId": "R2", "isActive": False, "fields": {"rating": "Hot"}})
    payload = await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "contact", "externalId": "R3", "ownerUserId": owner}]},
        "results { created }",
    )
    assert payload["errors"] == []
    assert len(await targets(api, seq)) == 1
    # an inactive sequence enrolls nobody
    await upsert(api, owner, {"externalId": "R4", "fields": {"rating": "Hot"}})
    assert await targets(api, inactive) == []
    assert [c["record"]["externalId"] for c in await targets(api, seq)] == ["R1", "R4"]


async def test_rules_are_read_back_and_bad_ones_change_nothing(api: Api) -> None:
    owner, _ = await seller(api)
    seq = await segment(api, {"name": "Generated key", "fieldConditions": [HOT]})
    read = await api.ok(
        f"query($id: ID!) {{ sequence(id: $id) {{ {RULES[len('sequence { ') : -2]} }} }}",
        {"id": seq["id"]},
    )
    (rule,) = read["sequence"]["enrollmentRules"]
    assert rule["key"].startswith("rule-") and rule["name"] == "Generated key"
    assert rule["fieldConditions"] == [HOT]
    bad = [
        {"key": "a", "fieldConditions": [{"field": "nope", "operator": "EQUALS", "value": 1}]},
        {
            "key": "b",
            "fieldConditions": [
                {"field": "rating", "operator": "GREATER_THAN", "value": "Hot"},
                {"field": "estimated_value", "operator": "EQUALS", "value": "high"},
                {"field": "rating", "operator": "IS_SET", "value": "Hot"},
                {"field": "rating", "operator": "IN", "value": ["Hot", "Lukewarm"]},
            ],
        },
        {
            "key": "a",
            "filter": {
                "recordType": "contact",
                "stage": "Nowhere",
                "ownerUserId": owner,
                "isActive": False,
            },
        },
        {"key": "bad key!", "reenrollAfterDays": 3},
        {"key": "c", "allowReenrollment": True, "reenrollAfterDays": -1},
    ]
    payload = await api.mutate(
        "setEnrollmentRules", {"sequenceId": seq["id"], "rules": bad}, "sequence { id }"
    )
    assert payload["sequence"] is None
    assert sorted((e["code"], ".".join(e["field"])) for e in payload["errors"]) == sorted(
        [
            ("UNKNOWN_FIELD", "rules.0.fieldConditions.0.field"),
            ("WRONG_FIELD_TYPE", "rules.1.fieldConditions.0.operator"),
            ("WRONG_FIELD_TYPE", "rules.1.fieldConditions.1.value"),
            ("INVALID_VALUE", "rules.1.fieldConditions.2.value"),
            ("INVALID_VALUE", "rules.1.fieldConditions.3.value.1"),
            ("DUPLICATE", "rules.2.key"),
            ("UNKNOWN_STAGE", "rules.2.filter.stage"),
            ("WRONG_RECORD_TYPE", "rules.2.filter.recordType"),
            ("INVALID_VALUE", "rules.2.filter.isActive"),
            ("INVALID_VALUE", "rules.3.key"),
            ("INVALID_VALUE", "rules.3.reenrollAfterDays"),
            ("INVALID_VALUE", "rules.4.reenrollAfterDays"),
        ]
    )
    too_many = [{"key": f"k{i}"} for i in range(11)]
    payload = await api.mutate(
        "setEnrollmentRules", {"sequenceId": seq["id"], "rules": too_many}, "sequence { id }"
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("TOO_MANY", ["rules"])]
    again = await api.ok(
        f"query($id: ID!) {{ sequence(id: $id) {{ {RULES[len('sequence { ') : -2]} }} }}",
        {"id": seq["id"]},
    )
    assert again["sequence"]["enrollmentRules"] == [rule]
    # a salesperson does not edit an organization sequence's rules
    _, token = await api.user(["SALESPERSON"])
    payload = await api.as_token(token).mutate(
        "setEnrollmentRules", {"sequenceId": seq["id"], "rules": []}, "sequence { id }"
    )
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]


@contextlib.contextmanager
def count_statements(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = api.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_batch_costs_the_same_statements_whatever_its_size(api: Api) -> None:
    seq = await segment(api, {"key": "hot", "fieldConditions": [HOT]})
    owner, _ = await seller(api)
    counts = []
    for n, prefix in ((2, "S"), (40, "T")):
        batch = [{"externalId": f"{prefix}{i}", "fields": {"rating": "Cold"}} for i in range(n)]
        await upsert(api, owner, *batch)
        hot = [{**r, "fields": {"rating": "Hot"}} for r in batch]
        with count_statements(api) as statements:
            await upsert(api, owner, *hot)
        counts.append(len(statements))
    assert len(await targets(api, seq)) == 42
    assert counts[0] == counts[1], counts
