"""actOnActivities: many activities of up next completed, skipped, snoozed or reassigned in one
call, each exactly as its single mutation would, with a result per activity."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from sekvens.domain.global_ids import from_global_id, to_global_id
from sekvens.storage.db import Database
from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_engine import leads, seller
from tests.api.test_life_cycle_states import World
from tests.api.test_query_counts import count_statements
from tests.conftest import Api, new_org

RESULTS = "okCount failedCount results { index activityId ok errors { code field index } activity { id status outcome notes dueAt assignees { id } } }"
UP_NEXT = "{ upNext(first: 100) { nodes { id subject kind status dueAt record { externalId } } } }"
NOWHERE = to_global_id("Activity", 10**12)


async def work_sequence(api: Api, name: str = "Bulk work") -> dict[str, Any]:
    """START -> task "First" -> call -> task "Last", activated (work goes to the record owner)."""
    seq = await create(api, name)
    first = (await add(api, seq, start_id(seq), "core.task", {"subject": "First"}))["step"]
    call = (await add(api, seq, first["id"], "call.phone", {"script": "Ask"}))["step"]
    await add(api, seq, call["id"], "core.task", {"subject": "Last"})
    payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert payload["errors"] == [], payload["errors"]
    return seq


async def connect_all(api: Api, engine: Any, seq: dict[str, Any], records: list[str]) -> None:
    payload = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": r} for r in records]},
        "connectedCount",
    )
    assert payload["connectedCount"] == len(records), payload
    await engine.run_until_idle()


async def up_next(api: Api) -> dict[str, dict[str, Any]]:
    """The viewer's open activities by record and subject."""
    nodes = (await api.ok(UP_NEXT))["upNext"]["nodes"]
    return {f"{n['record']['externalId']} {n['subject'].split()[0]}": n for n in nodes}


async def act(api: Api, ids: list[str], action: str, **arguments: Any) -> dict[str, Any]:
    return await api.mutate(
        "actOnActivities", {"activityIds": ids, "action": action, **arguments}, RESULTS
    )


def codes(payload: dict[str, Any]) -> list[str | None]:
    return [r["errors"][0]["code"] if r["errors"] else None for r in payload["results"]]


def _pk(global_id: str) -> int:
    return int(from_global_id(global_id)[1])


async def test_a_mixed_batch_changes_only_what_each_single_mutation_would(
    api: Api, engine: Any
) -> None:
    kari_id, kari_token = await seller(api, "kari@bulk.example")
    ola_id, ola_token = await seller(api, "ola@bulk.example")
    kari, ola = api.as_token(kari_token), api.as_token(ola_token)
    seq = await work_sequence(api)
    await connect_all(
        api, engine, seq, await leads(api, kari_id, 4, "K") + await leads(api, ola_id, 1, "O")
    )
    mine, theirs = await up_next(kari), await up_next(ola)
    assert sorted(mine) == ["K0 First", "K1 First", "K2 First", "K3 First"]
    done = await kari.mutate(
        "completeActivity", {"activityId": mine["K0 First"]["id"]}, "activity { id }"
    )
    assert done["errors"] == []
    await engine.run_until_idle()

    batch = [
        mine["K0 First"]["id"],  # closed already
        mine["K1 First"]["id"],
        theirs["O0 First"]["id"],  # a colleague's
        mine["K2 First"]["id"],
        NOWHERE,
        "not-an-id",
        mine["K3 First"]["id"],
    ]
    async with engine.bus.subscribe() as subscriber:
        payload = await act(kari, batch, "COMPLETE", notes="Done in bulk")
        change = await asyncio.wait_for(subscriber.get(), 10)
    assert payload["errors"] == []
    assert (payload["okCount"], payload["failedCount"]) == (3, 4)
    assert codes(payload) == [
        "ACTIVITY_CLOSED",
        None,
        "FORBIDDEN",
        None,
        "NOT_FOUND",
        "NOT_FOUND",
        None,
    ]
    assert [r["index"] for r in payload["results"]] == list(range(7))
    assert [r["activityId"] for r in payload["results"]] == batch
    assert [r["ok"] for r in payload["results"]] == [r["errors"] == [] for r in payload["results"]]
    closed = payload["results"][0]["errors"][0]
    assert (closed["field"], closed["index"]) == (["activityIds", "0"], 0)
    for i in (1, 3, 6):
        result = payload["results"][i]
        assert result["activity"]["status"] == "COMPLETED"
        assert result["activity"]["notes"] == "Done in bulk"
    assert all(payload["results"][i]["activity"] is None for i in (0, 2, 4, 5))
    # Subscribers hear of the three completed activities, as for single completions.
    completed = {_pk(batch[i]) for i in (1, 3, 6)}
    assert {a: change.activities.get(a) for a in completed} == dict.fromkeys(
        completed, frozenset({_pk(kari_id)})
    )
    assert not {_pk(batch[i]) for i in (0, 2)} & set(change.activities)
    assert (await up_next(ola))["O0 First"]["status"] == "OPEN"

    # The engine moves the completed activities' connections on: each gets its call.
    await engine.run_until_idle()
    mine = await up_next(kari)
    assert sorted(mine) == ["K0 Call", "K1 Call", "K2 Call", "K3 Call"]
    calls = [mine[f"K{i} Call"]["id"] for i in range(4)]
    no_outcome = await act(kari, calls[:2], "COMPLETE")
    assert codes(no_outcome) == ["REQUIRED", "REQUIRED"]
    assert no_outcome["results"][0]["errors"][0]["field"] == ["outcome"]
    wrong = await act(kari, calls[:1], "COMPLETE", outcome="Maybe")
    assert codes(wrong) == ["UNKNOWN_CALL_OUTCOME"]
    called = await act(kari, calls[:3], "COMPLETE", outcome="Connected")
    assert called["okCount"] == 3
    assert {r["activity"]["outcome"] for r in called["results"]} == {"Connected"}
    skipped = await act(kari, calls[3:], "SKIP", notes="No answer")
    assert skipped["results"][0]["activity"]["status"] == "SKIPPED"
    await engine.run_until_idle()
    assert sorted(await up_next(kari)) == ["K0 Last", "K1 Last", "K2 Last", "K3 Last"]

    entries = await api.ok(
        "query($f: AuditLogFilter) { auditLog(first: 50, filter: $f) { nodes { action entityId } } }",
        {"f": {"action": "activity."}},
    )
    actions = [e["action"] for e in entries["auditLog"]["nodes"]]
    assert (
        actions.count("activity.completed") == 1 + 3 + 3 and actions.count("activity.skipped") == 1
    )


async def test_permissions_are_the_single_mutations(api: Api, engine: Any) -> None:
    kari_id, kari_token = await seller(api, "kari@perm.example")
    ola_id, ola_token = await seller(api, "ola@perm.example")
    _, manager_token = await api.user(["SALES_MANAGER"], email="boss@perm.example")
    kari, ola, manager = (api.as_token(t) for t in (kari_token, ola_token, manager_token))
    seq = await work_sequence(api, "Permissions")
    await connect_all(
        api, engine, seq, await leads(api, kari_id, 2, "K") + await leads(api, ola_id, 2, "O")
    )
    theirs = [n["id"] for n in (await up_next(ola)).values()]
    until = (engine.clock.now() + timedelta(days=2)).isoformat()

    for action, arguments in (
        ("SNOOZE", {"until": until}),
        ("SKIP", {}),
        ("REASSIGN", {"userIds": [kari_id]}),
    ):
        refused = await act(kari, theirs, action, **arguments)
        assert codes(refused) == ["FORBIDDEN", "FORBIDDEN"], action
        assert refused["okCount"] == 0
    assert sorted(await up_next(ola)) == ["O0 First", "O1 First"]
    assert {n["status"] for n in (await up_next(ola)).values()} == {"OPEN"}

    # A manager moves a colleague's work; the assignee reassigns their own, as single ones may.
    moved = await act(manager, theirs, "REASSIGN", userIds=[kari_id])
    assert moved["okCount"] == 2
    assert all(r["activity"]["assignees"] == [{"id": kari_id}] for r in moved["results"])
    assert await up_next(ola) == {}
    assert sorted(await up_next(kari)) == ["K0 First", "K1 First", "O0 First", "O1 First"]
    back = await act(kari, theirs[:1], "REASSIGN", userIds=[ola_id, kari_id])
    assert back["okCount"] == 1
    assert [n["id"] for n in (await up_next(ola)).values()] == theirs[:1]
    snoozed = await act(manager, theirs, "SNOOZE", until=until)
    assert snoozed["okCount"] == 2
    assert {r["activity"]["dueAt"] for r in snoozed["results"]} == {until}


async def test_a_wrong_call_is_refused_whole(api: Api, engine: Any) -> None:
    kari_id, kari_token = await seller(api, "kari@whole.example")
    kari = api.as_token(kari_token)
    seq = await work_sequence(api, "Whole")
    await connect_all(api, engine, seq, await leads(api, kari_id, 2, "K"))
    before = await up_next(kari)
    ids = [n["id"] for n in before.values()]
    past = (engine.clock.now() - timedelta(hours=1)).isoformat()
    later = (engine.clock.now() + timedelta(hours=1)).isoformat()
    refusals: list[tuple[list[str], str, dict[str, Any], str, list[str]]] = [
        ([], "SKIP", {}, "REQUIRED", ["activityIds"]),
        (
            [*ids, *(to_global_id("Activity", 10**9 + i) for i in range(199))],
            "SKIP",
            {},
            "TOO_MANY",
            ["activityIds"],
        ),
        ([ids[0], ids[1], ids[0]], "SKIP", {}, "DUPLICATE", ["activityIds", "2"]),
        (ids, "SNOOZE", {}, "REQUIRED", ["until"]),
        (ids, "SNOOZE", {"until": past}, "INVALID_VALUE", ["until"]),
        (ids, "COMPLETE", {"until": later}, "INVALID_VALUE", ["until"]),
        (ids, "SKIP", {"outcome": "Connected"}, "INVALID_VALUE", ["outcome"]),
        (ids, "SKIP", {"notes": "x" * 4001}, "TOO_LONG", ["notes"]),
        (ids, "COMPLETE", {"outcome": "x" * 101}, "TOO_LONG", ["outcome"]),
        (ids, "REASSIGN", {}, "REQUIRED", ["userIds"]),
        (ids, "REASSIGN", {"userIds": [to_global_id("User", 10**9)]}, "UNKNOWN_USER", ["userIds"]),
        (ids, "REASSIGN", {"userIds": ["nope"]}, "NOT_FOUND", ["userIds"]),
    ]
    for batch, action, arguments, code, field in refusals:
        payload = await act(kari, batch, action, **arguments)
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], (
            action,
            arguments,
        )
        assert (payload["results"], payload["okCount"], payload["failedCount"]) == ([], 0, 0)
    unknown = await kari.gql(
        "mutation { actOnActivities(input: {activityIds: [], action: FINISH}) { okCount } }"
    )
    assert unknown["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await up_next(kari) == before
    audit = await api.ok(
        "query($f: AuditLogFilter) { auditLog(filter: $f) { totalCount } }",
        {"f": {"action": "activity."}},
    )
    assert audit["auditLog"]["totalCount"] == 0


async def test_statements_do_not_grow_with_the_batch(api: Api, engine: Any) -> None:
    kari_id, kari_token = await seller(api, "kari@count.example")
    ola_id, _ = await seller(api, "ola@count.example")
    kari = api.as_token(kari_token)
    seq = await work_sequence(api, "Counting")
    await connect_all(api, engine, seq, await leads(api, kari_id, 20, "K"))
    ids = [n["id"] for n in (await up_next(kari)).values()]
    until = (engine.clock.now() + timedelta(days=1)).isoformat()
    await kari.ok("{ viewer { roles } }")  # the token's last-used time is written once a minute
    counted: dict[str, list[int]] = {}
    for action, arguments, small, large in (
        ("SNOOZE", {"until": until}, ids[0:2], ids[2:10]),
        ("REASSIGN", {"userIds": [kari_id, ola_id]}, ids[0:2], ids[2:10]),
        ("COMPLETE", {"notes": "n"}, ids[10:12], ids[12:20]),
    ):
        for batch in (small, large):
            with count_statements(api) as statements:
                payload = await act(kari, batch, action, **arguments)
            assert payload["okCount"] == len(batch), payload
            counted.setdefault(action, []).append(len(statements))
    assert all(small == large for small, large in counted.values()), counted
    # Reading, checking, one UPDATE (or DELETE and INSERT of assignees), the connections moved
    # on, one audit INSERT, the change announced, the payload's assignees: 9-13 statements.
    assert max(large for _, large in counted.values()) <= 14, counted


# --- The bulk mutation against the single ones, on random batches ------------------------------

ACTORS = ("kari", "ola", "admin")


class BulkEqualsSingles(RuleBasedStateMachine):
    """Two organizations set up alike: one works its activities with actOnActivities, the other
    the same activities with the single mutations, one by one. Each batch's results add up,
    each activity's result is the single mutation's, and the organizations stay alike."""

    world: World

    @initialize()
    def setup(self) -> None:
        self.orgs = [self.run(self._org()) for _ in range(2)]
        self.settle()
        #: (record, subject) -> the time the last snooze set
        self.snoozed: dict[str, str] = {}

    def run(self, coro: Any) -> Any:
        return self.world.run(coro)

    def settle(self) -> None:
        self.run(self.world.app.state.services.engine.run_until_idle())

    async def _org(self) -> dict[str, Any]:
        api = await new_org(self.world.http, self.world.db)
        kari_id, kari_token = await seller(api, "kari@model.example")
        ola_id, ola_token = await seller(api, "ola@model.example")
        seq = await work_sequence(api, "Model")
        records = await leads(api, kari_id, 3, "K") + await leads(api, ola_id, 2, "O")
        payload = await api.mutate(
            "connectSequence",
            {"sequenceId": seq["id"], "records": [{"id": r} for r in records]},
            "connectedCount",
        )
        assert payload["connectedCount"] == 5
        return {
            "api": api,
            "as": {"kari": api.as_token(kari_token), "ola": api.as_token(ola_token), "admin": api},
            "users": {"kari": kari_id, "ola": ola_id},
            "seq": seq["id"],
        }

    async def _state(self, org: dict[str, Any]) -> dict[str, Any]:
        """Every activity of the organization by record and subject, users by name."""
        names = {v: k for k, v in org["users"].items()}
        data = await org["api"].ok(
            "query($id: ID!) { connections(first: 100, filter: {sequenceId: $id}) { nodes {"
            " status currentStepKey record { externalId }"
            " activities { id subject status outcome notes dueAt assignees { id } } } } }",
            {"id": org["seq"]},
        )
        state: dict[str, Any] = {}
        for conn in data["connections"]["nodes"]:
            record = conn["record"]["externalId"]
            state[record] = (conn["status"], conn["currentStepKey"] is not None)
            for a in conn["activities"]:
                key = f"{record} {a['subject'].split()[0]}"
                state[key] = {
                    "id": a["id"],
                    "status": a["status"],
                    "outcome": a["outcome"],
                    "notes": a["notes"],
                    "assignees": sorted(names[u["id"]] for u in a["assignees"]),
                    "dueAt": a["dueAt"] if key in self.snoozed else None,
                }
        return state

    @rule(
        actor=st.sampled_from(ACTORS),
        action=st.sampled_from(["COMPLETE", "SKIP", "SNOOZE", "REASSIGN"]),
        picks=st.lists(st.integers(0, 10), min_size=1, max_size=5, unique=True),
        outcome=st.sampled_from([None, "Connected"]),
        notes=st.sampled_from([None, "Noted"]),
        to=st.sampled_from([("kari",), ("ola",), ("kari", "ola")]),
        hours=st.integers(1, 48),
    )
    def work(
        self,
        actor: str,
        action: str,
        picks: list[int],
        outcome: str | None,
        notes: str | None,
        to: tuple[str, ...],
        hours: int,
    ) -> None:
        bulk, single = self.orgs
        states = [self.run(self._state(org)) for org in self.orgs]
        keys = sorted(k for k in states[0] if isinstance(states[0][k], dict))
        chosen = [keys[p] if p < len(keys) else f"nowhere {p}" for p in picks]
        until = (self.world.clock.now() + timedelta(hours=hours)).isoformat()

        def arguments(org: dict[str, Any]) -> dict[str, Any]:
            return {
                "COMPLETE": {"outcome": outcome, "notes": notes},
                "SKIP": {"notes": notes},
                "SNOOZE": {"until": until},
                "REASSIGN": {"userIds": [org["users"][u] for u in to]},
            }[action]

        def ids(state: dict[str, Any]) -> list[str]:
            return [
                state[k]["id"] if k in state else to_global_id("Activity", 10**12 + i)
                for i, k in enumerate(chosen)
            ]

        payload = self.run(act(bulk["as"][actor], ids(states[0]), action, **arguments(bulk)))
        assert payload["errors"] == [], payload
        results = payload["results"]
        assert len(results) == len(picks)
        assert payload["okCount"] + payload["failedCount"] == len(picks)
        assert payload["okCount"] == sum(r["ok"] for r in results)

        name = {"COMPLETE": "completeActivity", "SKIP": "skipActivity"}.get(action)
        name = name or {"SNOOZE": "snoozeActivity", "REASSIGN": "reassignActivity"}[action]
        one_by_one = []
        for activity_id in ids(states[1]):
            given = {k: v for k, v in arguments(single).items() if v is not None}
            answer = self.run(
                single["as"][actor].mutate(
                    name, {"activityId": activity_id, **given}, "activity { id }"
                )
            )
            one_by_one.append(answer["errors"][0]["code"] if answer["errors"] else None)
        assert codes(payload) == one_by_one
        if action == "SNOOZE":
            for key, result in zip(chosen, results, strict=True):
                if result["ok"]:
                    self.snoozed[key] = until
        self.settle()

    @invariant()
    def alike(self) -> None:
        if not hasattr(self, "orgs"):
            return
        bulk, single = (self.run(self._state(org)) for org in self.orgs)
        strip = lambda s: {k: {**v, "id": None} if isinstance(v, dict) else v for k, v in s.items()}  # noqa: E731
        assert strip(bulk) == strip(single)
        for key, until in self.snoozed.items():
            assert bulk[key]["dueAt"] == until or bulk[key]["status"] != "OPEN", key


def test_bulk_equals_the_single_mutations(database_url: str, db: Database) -> None:
    """`db` migrates the database; the machine runs its own app on its own event loop."""
    world = World(database_url)
    BulkEqualsSingles.world = world
    try:
        run_state_machine_as_test(
            BulkEqualsSingles,
            settings=settings(
                max_examples=6,
                stateful_step_count=10,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        world.close()


async def test_one_activity_completed_twice_at_once_is_completed_once(
    api: Api, engine: Any
) -> None:
    """Two calls complete the same activity at the same moment (a double click, two tabs):
    one completes it, the other is told it is closed; one audit entry."""
    kari_id, kari_token = await seller(api, "kari@race.example")
    kari = api.as_token(kari_token)
    seq = await work_sequence(api, "Race")
    await connect_all(api, engine, seq, await leads(api, kari_id, 1, "R"))
    activity = (await up_next(kari))["R0 First"]
    payloads = await asyncio.gather(
        *(act(kari, [activity["id"]], "COMPLETE", notes=f"call {i}") for i in (1, 2))
    )
    assert sorted(p["okCount"] for p in payloads) == [0, 1], payloads
    assert sorted(str(codes(p)[0]) for p in payloads) == ["ACTIVITY_CLOSED", "None"], payloads
    entries = await api.ok(
        "query($f: AuditLogFilter) { auditLog(first: 50, filter: $f) { nodes { action } } }",
        {"f": {"action": "activity.completed"}},
    )
    assert len(entries["auditLog"]["nodes"]) == 1
