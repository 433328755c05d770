"""CRM-driven exits (docs/exits.md): a booked meeting, a stage entered and a field condition
becoming true each end a connection with a reason of its own, closing its work; a step type
that hears record changes moves a connection waiting at it. Through GraphQL, engine by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sekvens.plugins.api import (
    Branch,
    ExecutionContext,
    Outcome,
    RecordChange,
    StepCategory,
    StepConfig,
    StepType,
    TakeBranch,
    WaitForEvents,
)
from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_connection_endings import activate, stats, task_sequence
from tests.api.test_engine import connect, connections, seller
from tests.api.test_engine_flows import up_next
from tests.api.test_query_counts import count_statements
from tests.conftest import Api

OPTIONS = (
    "sequence { options { exitOnReply exitCriteria { meetingBooked stages"
    " fieldConditions { field operator value } } } }"
)


async def set_criteria(api: Api, seq: dict[str, Any], criteria: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = await api.mutate(
        "setSequenceOptions", {"sequenceId": seq["id"], "exitCriteria": criteria}, OPTIONS
    )
    return payload


async def exiting_sequence(api: Api, name: str, criteria: dict[str, Any]) -> dict[str, Any]:
    seq = await create(api, name)
    task = (await add(api, seq, start_id(seq), "core.task", {"subject": f"{name} call"}))["step"]
    await add(api, seq, task["id"], "core.task", {"subject": "Second"})
    payload = await set_criteria(api, seq, criteria)
    assert payload["errors"] == [], payload["errors"]
    return await activate(api, seq)


async def upsert(api: Api, *records: dict[str, Any]) -> list[str]:
    payload = await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "name": r["externalId"], **r} for r in records]},
        "results { record { id } errors { code field } }",
    )
    assert [r["errors"] for r in payload["results"]] == [[]] * len(records)
    return [r["record"]["id"] for r in payload["results"]]


async def running(
    api: Api, engine: Any, seq: dict[str, Any], owner_id: str, *records: dict[str, Any]
) -> list[str]:
    ids = await upsert(api, *({"ownerUserId": owner_id, **r} for r in records))
    await connect(api, seq, ids)
    await engine.run_until_idle()
    return ids


def task_of(tasks: list[dict[str, Any]], external_id: str, subject: str) -> dict[str, Any]:
    [task] = [
        t for t in tasks if t["record"]["externalId"] == external_id and t["subject"] == subject
    ]
    return task


async def assert_closed(api: Api, token: str, task: dict[str, Any], reason: str) -> None:
    """The ending canceled the task with its reason: off up next, no more work on it."""
    assert task["id"] not in {t["id"] for t in await up_next(api, token)}
    node = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Activity { status closeReason } } }",
        {"id": task["id"]},
    )
    assert node["node"] == {"status": "CANCELED", "closeReason": reason}
    payload = await api.as_token(token).mutate(
        "completeActivity", {"activityId": task["id"]}, "activity { id }"
    )
    assert [e["code"] for e in payload["errors"]] == ["ACTIVITY_CLOSED"]


async def states(api: Api, seq: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {k: (c["status"], c["reason"]) for k, c in (await connections(api, seq)).items()}


async def test_exit_criteria_are_kept_and_shown(api: Api) -> None:
    seq = await create(api, "Options")
    criteria = {
        "meetingBooked": True,
        "stages": ["Close"],
        "fieldConditions": [
            {"field": "rating", "operator": "IN", "value": ["Hot", "Warm"]},
            {"field": "qualified", "operator": "IS_SET"},
            {"field": "estimated_value", "operator": "GREATER_THAN", "value": 1000},
        ],
    }
    payload = await set_criteria(api, seq, criteria)
    assert payload["errors"] == []
    shown = payload["sequence"]["options"]["exitCriteria"]
    assert shown == {
        **criteria,
        "fieldConditions": [{"value": None, **c} for c in criteria["fieldConditions"]],
    }
    # other options leave them as they are; an empty input clears them
    payload = await api.mutate(
        "setSequenceOptions", {"sequenceId": seq["id"], "exitOnReply": True}, OPTIONS
    )
    assert payload["sequence"]["options"]["exitCriteria"] == shown
    payload = await set_criteria(api, seq, {})
    assert payload["sequence"]["options"]["exitCriteria"] == {
        "meetingBooked": False,
        "stages": [],
        "fieldConditions": [],
    }


async def test_bad_exit_criteria_are_refused_with_their_paths(api: Api) -> None:
    seq = await create(api, "Bad options")
    assert (await set_criteria(api, seq, {"stages": ["Develop"]}))["errors"] == []
    payload = await set_criteria(
        api,
        seq,
        {
            "meetingBooked": True,
            "stages": ["Close", "Won"],
            "fieldConditions": [
                {"field": "shoe_size", "operator": "EQUALS", "value": 3},
                {"field": "rating", "operator": "EQUALS", "value": "Lukewarm"},
                {"field": "estimated_value", "operator": "EQUALS", "value": "many"},
                {"field": "company", "operator": "GREATER_THAN", "value": "A"},
                {"field": "qualified", "operator": "EQUALS"},
                {"field": "qualified", "operator": "IS_NOT_SET", "value": True},
            ],
        },
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("UNKNOWN_STAGE", ["exitCriteria", "stages", "1"]),
        ("UNKNOWN_FIELD", ["exitCriteria", "fieldConditions", "0", "field"]),
        ("INVALID_VALUE", ["exitCriteria", "fieldConditions", "1", "value"]),
        ("WRONG_FIELD_TYPE", ["exitCriteria", "fieldConditions", "2", "value"]),
        ("WRONG_FIELD_TYPE", ["exitCriteria", "fieldConditions", "3", "operator"]),
        ("REQUIRED", ["exitCriteria", "fieldConditions", "4", "value"]),
        ("INVALID_VALUE", ["exitCriteria", "fieldConditions", "5", "value"]),
    ]
    data = await api.ok(
        "query($id: ID!) { sequence(id: $id) { options { exitCriteria { meetingBooked stages } } } }",
        {"id": seq["id"]},
    )
    assert data["sequence"]["options"]["exitCriteria"] == {
        "meetingBooked": False,
        "stages": ["Develop"],
    }
    await add(api, seq, start_id(seq), "core.task", {"subject": "Call"})
    await activate(api, seq)
    payload = await set_criteria(api, seq, {"meetingBooked": True})
    assert [e["code"] for e in payload["errors"]] == ["SEQUENCE_ACTIVE"]


async def test_a_booked_meeting_ends_connections_that_exit_on_it(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "meeting@example.com")
    exits = await exiting_sequence(api, "Exits", {"meetingBooked": True})
    stays = await task_sequence(api, "Stays")
    [record, other] = await running(
        api, engine, exits, owner_id, {"externalId": "M1"}, {"externalId": "M2"}
    )
    await connect(api, stays, [record, other])
    await engine.run_until_idle()
    tasks = await up_next(api, token)
    exit_task = task_of(tasks, "M1", "Exits call")

    events = [
        {
            "eventId": "meeting-1",
            "kind": "MEETING_BOOKED",
            "recordId": record,
            "occurredAt": "2026-01-01T00:00:00+00:00",
        },
        {
            "eventId": "open-1",
            "kind": "EMAIL_OPENED",
            "recordId": record,
            "occurredAt": "2026-01-01T00:00:00+00:00",
        },
        {"eventId": "meeting-2", "kind": "MEETING_BOOKED", "occurredAt": "2026-01-01T00:00:00Z"},
    ]
    payload = await api.mutate(
        "recordEngagementEvents",
        {"events": events},
        "results { recorded errors { code field } }",
    )
    assert payload["results"] == [
        {"recorded": True, "errors": []},
        {
            "recorded": False,
            "errors": [{"code": "INVALID_VALUE", "field": ["events", "1", "recordId"]}],
        },
        {"recorded": False, "errors": [{"code": "NOT_FOUND", "field": ["events", "2"]}]},
    ]
    assert await states(api, exits) == {
        "M1": ("DISCONNECTED", "MEETING_BOOKED"),
        "M2": ("CONNECTED", None),
    }
    assert await states(api, stays) == {"M1": ("CONNECTED", None), "M2": ("CONNECTED", None)}
    await assert_closed(api, token, exit_task, "MEETING_BOOKED")
    assert {"reason": "MEETING_BOOKED", "count": 1} in (await stats(api, exits))["byReason"]

    # named by an activity (here of the other sequence): the activity's record
    stays_task = task_of(tasks, "M2", "Call them")
    event = {"eventId": "meeting-3", "kind": "MEETING_BOOKED", "activityId": stays_task["id"]}
    payload = await api.mutate(
        "recordEngagementEvents",
        {"events": [{**event, "occurredAt": "2026-01-02T00:00:00Z"}]},
        "results { recorded errors { code } }",
    )
    assert payload["results"] == [{"recorded": True, "errors": []}]
    assert set((await states(api, exits)).values()) == {("DISCONNECTED", "MEETING_BOOKED")}
    assert set((await states(api, stays)).values()) == {("CONNECTED", None)}
    assert sorted(t["record"]["externalId"] for t in await up_next(api, token)) == ["M1", "M2"]


async def test_entering_an_exit_stage_ends_the_connection(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "stage@example.com")
    seq = await exiting_sequence(api, "Stage", {"stages": ["Propose", "Close"]})
    await running(
        api,
        engine,
        seq,
        owner_id,
        {"externalId": "S1", "stage": "Qualify"},
        {"externalId": "S2", "stage": "Close"},
        {"externalId": "S3", "stage": "Qualify"},
    )
    tasks = await up_next(api, token)
    # to another stage; the same exit stage again; another field only
    await upsert(
        api,
        {"externalId": "S1", "stage": "Develop"},
        {"externalId": "S2", "stage": "Close"},
        {"externalId": "S3", "fields": {"company": "Acme"}},
    )
    assert set((await states(api, seq)).values()) == {("CONNECTED", None)}
    await upsert(api, {"externalId": "S1", "stage": "Propose"}, {"externalId": "S3"})
    assert await states(api, seq) == {
        "S1": ("DISCONNECTED", "STAGE_REACHED"),
        "S2": ("CONNECTED", None),
        "S3": ("CONNECTED", None),
    }
    await assert_closed(api, token, task_of(tasks, "S1", "Stage call"), "STAGE_REACHED")
    assert len(await up_next(api, token)) == 2


async def test_a_field_condition_becoming_true_ends_the_connection(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "field@example.com")
    criteria = {"fieldConditions": [{"field": "rating", "operator": "EQUALS", "value": "Hot"}]}
    seq = await exiting_sequence(api, "Field", criteria)
    await running(
        api,
        engine,
        seq,
        owner_id,
        {"externalId": "F1", "fields": {"rating": "Warm"}},
        {"externalId": "F2", "fields": {"rating": "Hot"}},
    )
    tasks = await up_next(api, token)
    await upsert(
        api,
        {"externalId": "F1", "fields": {"rating": "Cold"}},
        {"externalId": "F2", "fields": {"rating": "Hot", "company": "Acme"}},
    )
    assert set((await states(api, seq)).values()) == {("CONNECTED", None)}
    await upsert(api, {"externalId": "F1", "fields": {"rating": "Hot"}})
    assert await states(api, seq) == {
        "F1": ("DISCONNECTED", "FIELD_CONDITION_MET"),
        "F2": ("CONNECTED", None),
    }
    await assert_closed(api, token, task_of(tasks, "F1", "Field call"), "FIELD_CONDITION_MET")
    assert [t["record"]["externalId"] for t in await up_next(api, token)] == ["F2"]


class StageGate(StepType[StepConfig]):
    """Test-only: waits until the record's stage changes to Close (YES), at most 30 days."""

    key = "test.stage_gate"
    category = StepCategory.CONDITION
    display_name = "Stage gate"
    description = "Waits for the Close stage."
    config_model = StepConfig
    branches = (Branch.YES, Branch.NO)
    automatic = True

    async def execute(self, ctx: ExecutionContext[StepConfig]) -> Outcome:
        return WaitForEvents(frozenset(), timedelta(days=30))

    async def on_record_change(
        self, ctx: ExecutionContext[StepConfig], change: RecordChange
    ) -> Outcome | None:
        ctx.state["seen"] = ctx.state.get("seen", 0) + 1
        if change.stage_changed and change.stage_after == "Close":
            return TakeBranch(Branch.YES)
        return None


@pytest.fixture
def stage_gate(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.state.services.registry._types, StageGate.key, StageGate())


@pytest.mark.usefixtures("stage_gate")
async def test_a_step_type_hears_record_changes(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "gate@example.com")
    seq = await create(api, "Gate")
    gate = (await add(api, seq, start_id(seq), "test.stage_gate"))["step"]
    await add(api, seq, gate["id"], "core.task", {"subject": "Closed"}, branch="YES")
    await add(api, seq, gate["id"], "core.task", {"subject": "Not yet"}, branch="NO")
    await activate(api, seq)
    await running(
        api,
        engine,
        seq,
        owner_id,
        {"externalId": "G1", "stage": "Qualify"},
        {"externalId": "G2", "stage": "Qualify"},
    )
    assert await up_next(api, token) == []
    await upsert(
        api,
        {"externalId": "G1", "stage": "Close"},
        {"externalId": "G2", "stage": "Develop"},
    )
    await engine.run_until_idle()
    assert [(t["record"]["externalId"], t["subject"]) for t in await up_next(api, token)] == [
        ("G1", "Closed")
    ]
    conns = await connections(api, seq)
    assert (conns["G1"]["stepsDone"], conns["G2"]["stepsDone"]) == (2, 1)


async def test_a_batch_of_exits_costs_a_fixed_number_of_statements(api: Api, engine: Any) -> None:
    owner_id, _ = await seller(api, "batch@example.com")
    criteria = {
        "stages": ["Close"],
        "fieldConditions": [{"field": "qualified", "operator": "EQUALS", "value": True}],
    }
    seq = await exiting_sequence(api, "Batch", criteria)
    await running(
        api, engine, seq, owner_id, *({"externalId": f"B{i}", "stage": "Qualify"} for i in range(9))
    )
    counts = []
    # each batch: fields change on the first records, stages on the rest (the upsert's own
    # UPDATEs group by the columns they set)
    for fields, stages in ((["B0"], ["B1"]), (["B2", "B3", "B4", "B5"], ["B6", "B7", "B8"])):
        with count_statements(api) as statements:
            await upsert(
                api,
                *({"externalId": r, "fields": {"qualified": True}} for r in fields),
                *({"externalId": r, "stage": "Close"} for r in stages),
            )
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    reasons = [reason for _, reason in (await states(api, seq)).values()]
    assert sorted(reasons) == ["FIELD_CONDITION_MET"] * 5 + ["STAGE_REACHED"] * 4
