"""CRM-driven exits and automatic enrollment explored together: random interleavings of
record upserts (stage, fields, owner, name, active; some refused), MEETING_BOOKED events
named by record, enrollment rules replaced (with and without re-enrollment and its gap),
connects, disconnects, pauses, resumes and completed tasks by hand, a sequence deactivated,
given other exit criteria and activated again, and a moved clock, with the engine run after
each, through GraphQL. Sequence A waits 2 days, then holds a task (it exits on a meeting,
the stage Propose, rating becoming Hot); B holds a task (it exits on criteria that change
while it is inactive).

A model of this test's own (its own field-condition evaluator, rule matching and gap
arithmetic on the moved clock's offset) predicts every connection's status, reason,
`enrolledBy` and open task, and the connections read back must equal it after every step.
Besides, checked against what each step did rather than against the model:

1. At most one running (CONNECTED or PAUSED) connection per (sequence, record), and none
   ends before it started (`endedAt`, `createdAt`).
2. A running connection whose record's stage is an exit stage of its sequence started
   after the record entered that stage.
3. A connection ended by a step ended for what that step did: STAGE_REACHED only by an
   upsert that changed its record's stage into an exit stage, FIELD_CONDITION_MET only by
   one that made an exit condition become true, MEETING_BOOKED only by a meeting with its
   record in a sequence exiting on meetings; RECORD_DEACTIVATED, USER_DISCONNECTED,
   PARENT_SEQUENCE_DEACTIVATED and SEQUENCE_COMPLETED only by their own actions.
4. A connection with `enrolledBy` was made by an upsert after which its record matched that
   rule and before which it did not; without re-enrollment no earlier connection of the pair
   came from that rule; with it the pair's previous connection started at least the gap
   before. A connection without it was made by a user.

The steps are drawn by one rule (`happens`), so that every example mixes what happens;
`make fuzz` (SEKVENS_FUZZ_SCALE) runs more examples, at random.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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

from sekvens.storage.db import Database
from tests.api.sequences_helpers import add, create, simple_active, start_id
from tests.api.test_life_cycle_states import World
from tests.conftest import Api, MovableClock, new_org

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
RECORDS = 3
#: Records made at the start; the others, by an upsert of the machine.
CREATED = 2
STAGES = ("Qualify", "Develop", "Propose", "Close")
RUNNING = ("CONNECTED", "PAUSED")
KEEP = "keep"
WAIT_HOURS = 48  # sequence A: core.wait 2 days, then a task

HOT = {"field": "rating", "operator": "EQUALS", "value": "Hot"}
CONDITIONS: tuple[dict[str, Any], ...] = (
    HOT,
    {"field": "rating", "operator": "IN", "value": ["Hot", "Warm"]},
    {"field": "rating", "operator": "NOT_EQUALS", "value": "Cold"},
    {"field": "estimated_value", "operator": "GREATER_THAN", "value": 100},
    {"field": "estimated_value", "operator": "LESS_THAN", "value": 100},
    {"field": "qualified", "operator": "IS_SET"},
    {"field": "qualified", "operator": "IS_NOT_SET"},
    {"field": "qualified", "operator": "EQUALS", "value": True},
    {"field": "company", "operator": "EQUALS", "value": "Acme"},
    {"field": "company", "operator": "NOT_EQUALS", "value": "acme"},
    {"field": "company", "operator": "IS_SET"},
    {"field": "follow_up_date", "operator": "GREATER_THAN", "value": "2026-03-01"},
    {"field": "follow_up_date", "operator": "LESS_THAN", "value": "2026-03-01"},
)
A_CRITERIA = {"meetingBooked": True, "stages": ["Propose"], "fieldConditions": [HOT]}
B_CRITERIA: tuple[dict[str, Any], ...] = (
    {"stages": ["Close"], "fieldConditions": [CONDITIONS[3], CONDITIONS[5]]},
    {"meetingBooked": True, "stages": ["Develop", "Close"], "fieldConditions": []},
    {"stages": [], "fieldConditions": [CONDITIONS[1], CONDITIONS[7]]},
    {"stages": ["Qualify"], "fieldConditions": [CONDITIONS[8], CONDITIONS[11]]},
    {},
)
CONNECTIONS = (
    "query($after: String) { connections(first: 100, after: $after) {"
    " pageInfo { hasNextPage endCursor } nodes { id status reason enrolledBy createdAt endedAt"
    " record { externalId } sequence { id } activities { id status } } } }"
)
ERRORS = "errors { code field }"


# --- The test's own reading of the rules (docs/exits.md, docs/enrollment.md) ---------------


def is_set(value: Any) -> bool:
    return value is not None and value != ""


def same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.casefold() == expected.casefold()
    return bool(actual == expected)


def holds(condition: dict[str, Any], fields: dict[str, Any]) -> bool:
    op, expected = condition["operator"], condition.get("value")
    actual = fields.get(condition["field"])
    if op == "IS_SET":
        return is_set(actual)
    if op == "IS_NOT_SET":
        return not is_set(actual)
    if op == "NOT_EQUALS":
        return not (is_set(actual) and same(actual, expected))
    if not is_set(actual):
        return False
    if op == "EQUALS":
        return same(actual, expected)
    if op == "IN":
        return any(same(actual, v) for v in expected)
    if isinstance(actual, bool):
        return False
    return bool(actual > expected) if op == "GREATER_THAN" else bool(actual < expected)


@dataclass(frozen=True)
class Rec:
    """A record as the rules read it."""

    external_id: str
    name: str
    owner: int
    stage: str | None
    active: bool
    fields: dict[str, Any]


def exit_reason(criteria: dict[str, Any], before: Rec, after: Rec) -> str | None:
    """The reason a change from `before` to `after` ends a running connection, if any."""
    if after.stage != before.stage and after.stage in criteria.get("stages", []):
        return "STAGE_REACHED"
    for c in criteria.get("fieldConditions", []):
        if holds(c, after.fields) and not holds(c, before.fields):
            return "FIELD_CONDITION_MET"
    return None


def matches(r: dict[str, Any], rec: Rec) -> bool:
    f = r.get("filter") or {}
    search = (f.get("search") or "").lower()
    return (
        rec.active
        and (f.get("owner") is None or f["owner"] == rec.owner)
        and (f.get("stage") is None or f["stage"] == rec.stage)
        and (not search or search in rec.name.lower() or search in rec.external_id.lower())
        and all(holds(c, rec.fields) for c in r.get("fieldConditions", []))
    )


@dataclass
class Conn:
    seq: int
    rec: int
    status: str
    reason: str | None
    enrolled_by: str | None
    #: The clock's offset in hours when it started, and (A) when its wait is due.
    started: int
    due: int | None
    #: Whether its task is open (A: after the wait; B: at once).
    task: bool
    #: The step of the machine that made it.
    step: int
    id: str | None = None
    #: Its open activities, and all its activities, as last read.
    open: list[str] = field(default_factory=list)
    activities: list[str] = field(default_factory=list)


@dataclass
class Seq:
    id: str
    criteria: dict[str, Any]
    active: bool = True
    rules: list[dict[str, Any]] = field(default_factory=list)


RULE = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["k1", "k2", "k3"]),
        "filter": st.fixed_dictionaries(
            {
                "stage": st.sampled_from([None] * 8 + list(STAGES)),
                "owner": st.sampled_from([None] * 6 + [0, 1]),
                "search": st.sampled_from([None, None, None, "acme"]),
            }
        ),
        "fieldConditions": st.sampled_from([1, 1, 1, 0, 2]).flatmap(
            lambda n: st.lists(st.sampled_from(CONDITIONS), min_size=n, max_size=n, unique_by=str)
        ),
        "allowReenrollment": st.sampled_from([False, True, True]),
        "reenrollAfterDays": st.sampled_from([0, 0, 1, 3]),
    }
).map(lambda r: {**r, "reenrollAfterDays": r["reenrollAfterDays"] * r["allowReenrollment"]})
RULE_LISTS = st.lists(RULE, max_size=2, unique_by=lambda r: r["key"])
FIRST_RULES = st.lists(RULE, min_size=1, max_size=2, unique_by=lambda r: r["key"])
#: An upsert of a record: a value, KEEP (left out) or None (cleared); "hot" is refused.
CHANGES = st.fixed_dictionaries(
    {
        "stage": st.one_of(st.none(), st.sampled_from(STAGES)),
        "rating": st.sampled_from([KEEP, KEEP, None, "Hot", "Hot", "Warm", "Cold", "hot"]),
        "value": st.sampled_from([KEEP, None, 50, 100, 101, 500]),
        "qualified": st.sampled_from([KEEP, None, True, False]),
        "company": st.sampled_from([KEEP, KEEP, None, "", "ACME", "acme", "Beta"]),
        "follow_up": st.sampled_from([KEEP, KEEP, None, "2026-02-01", "2026-03-01", "2026-04-15"]),
        "owner": st.sampled_from([KEEP, 0, 1]),
        "name": st.sampled_from([KEEP, "Acme", "Beta"]),
        "active": st.sampled_from([KEEP] * 5 + [True, True, False]),
    }
)


RECS = st.integers(0, RECORDS - 1)
#: The arguments of each method of the machine a step may call.
ARGUMENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "crm": st.fixed_dictionaries(
        {
            "rec": RECS,
            "meeting": st.sampled_from([None] * 6 + ["record", "activity"]),
            "change": CHANGES,
        }
    ),
    "by_hand": st.fixed_dictionaries(
        {
            "which": st.integers(0, 2 * RECORDS - 1),
            "action": st.sampled_from(
                ["connect", "connect", "disconnect", "pause", "resume", "complete"]
            ),
        }
    ),
    "manager": st.fixed_dictionaries(
        {
            "seq": st.integers(0, 1),
            "what": st.sampled_from(["rules", "rules", "toggle B", "criteria of B"]),
            "rules": RULE_LISTS,
            "criteria": st.sampled_from(B_CRITERIA),
        }
    ),
    "time_passes": st.fixed_dictionaries({"hours": st.sampled_from([12, 24, 48, 96])}),
}
#: What happens in a step, weighted: a method and its arguments.
ACTIONS = st.sampled_from(["crm"] * 3 + ["by_hand"] * 2 + ["manager", "time_passes"]).flatmap(
    lambda name: st.tuples(st.just(name), ARGUMENTS[name])
)


class ExitsAndEnrollment(RuleBasedStateMachine):
    world: World

    @initialize(rules_a=FIRST_RULES, rules_b=RULE_LISTS)
    def setup(self, rules_a: list[dict[str, Any]], rules_b: list[dict[str, Any]]) -> None:
        self.api: Api = self.run(new_org(self.world.http, self.world.db))
        self.start_offset = self.world.clock.offset
        self.run(self._setup())
        self.recs: list[Rec | None] = [None] * RECORDS
        self.record_ids: list[str | None] = [None] * RECORDS
        #: the machine's step when each record's stage last changed
        self.entered: list[int] = [0] * RECORDS
        self.conns: list[Conn] = []
        self.step = 0
        self.events = 0
        self._set_rules(0, rules_a)
        self._set_rules(1, rules_b)
        for rec in range(CREATED):  # the others are created by the machine's upserts
            name = ("Acme", "Beta")[rec % 2]
            self._upsert(rec, "Qualify", "Warm", 50, KEEP, KEEP, KEEP, rec % 2, name, KEEP)

    def run(self, coro: Any) -> Any:
        return self.world.run(coro)

    async def _setup(self) -> None:
        api = self.api
        self.sellers: list[str] = []
        for _ in range(2):
            _, token = await api.user(["SALESPERSON"])
            me = await api.as_token(token).ok("{ viewer { user { id } } }")
            self.sellers.append(me["viewer"]["user"]["id"])
        a = await create(api, "Waits")
        wait = (await add(api, a, start_id(a), "core.wait", {"days": 2}))["step"]
        await add(api, a, wait["id"], "core.task", {"subject": "Call"})
        b = await create(api, "Tasks")
        await add(api, b, start_id(b), "core.task", {"subject": "Call"})
        self.seqs = [Seq(a["id"], A_CRITERIA), Seq(b["id"], B_CRITERIA[0])]
        for s in self.seqs:
            options = {"sequenceId": s.id, "skipNonWorkingTime": False, "exitCriteria": s.criteria}
            payload = await api.mutate("setSequenceOptions", options, "sequence { id }")
            assert payload["errors"] == [], payload
            payload = await api.mutate("activateSequence", {"sequenceId": s.id}, ERRORS)
            assert payload["errors"] == [], payload

    @property
    def now(self) -> int:
        """The clock's offset since the start, in whole hours (it moves 12 hours at least)."""
        return int((self.world.clock.offset - self.start_offset) / timedelta(hours=1))

    def settle(self) -> None:
        self.run(self.world.app.state.services.engine.run_until_idle())
        now = self.now
        for c in self.conns:
            if c.status == "CONNECTED" and (c.due is None or c.due <= now):
                c.task = True

    def running(self, seq: int, rec: int) -> Conn | None:
        found = [c for c in self.conns if (c.seq, c.rec) == (seq, rec) and c.status in RUNNING]
        assert len(found) <= 1, found
        return found[0] if found else None

    def new_conn(self, seq: int, rec: int, enrolled_by: str | None) -> None:
        due = self.now + WAIT_HOURS if seq == 0 else None
        self.conns.append(
            Conn(seq, rec, "CONNECTED", None, enrolled_by, self.now, due, False, self.step)
        )

    def end(self, conn: Conn, reason: str) -> None:
        conn.status, conn.reason, conn.task = "DISCONNECTED", reason, False

    # --- What happens ------------------------------------------------------------------------

    def crm(self, rec: int, meeting: str | None, change: dict[str, Any]) -> None:
        """The CRM tells of a meeting booked with the record (naming the record, or one of
        its activities when it has one), or upserts it."""
        if meeting:
            self._meeting(rec, meeting == "activity")
        else:
            self._upsert(rec, **change)

    def _upsert(
        self,
        rec: int,
        stage: str | None,
        rating: Any,
        value: Any,
        qualified: Any,
        company: Any,
        follow_up: Any,
        owner: Any,
        name: Any,
        active: Any,
    ) -> None:
        before = self.recs[rec]
        external_id = f"L{rec}"
        if before is None:  # created: an owner and a name of its own
            owner = 0 if owner == KEEP else owner
            name = "Beta" if name == KEEP else name
        given = {
            "rating": rating,
            "estimated_value": value,
            "qualified": qualified,
            "company": company,
            "follow_up_date": follow_up,
        }
        fields = {k: v for k, v in given.items() if v != KEEP}
        item: dict[str, Any] = {"recordType": "lead", "externalId": external_id}
        if name != KEEP:
            item["name"] = f"{name} {external_id}"
        if owner != KEEP:
            item["ownerUserId"] = self.sellers[owner]
        if stage is not None:
            item["stage"] = stage
        if active != KEEP:
            item["isActive"] = active
        if fields:
            item["fields"] = fields
        payload = self.run(
            self.api.mutate(
                "upsertRecords", {"records": [item]}, "results { record { id } errors { code } }"
            )
        )
        self.step += 1
        [result] = payload["results"]
        if rating == "hot":  # not an option as written: refused, and nothing changes
            assert [e["code"] for e in result["errors"]] == ["INVALID_VALUE"], payload
            assert result["record"] is None, payload
            self.settle()
            self.check_step("refused")
            return
        assert payload["errors"] == [] and result["errors"] == [], payload
        self.record_ids[rec] = result["record"]["id"]
        after = Rec(
            external_id,
            item.get("name", before.name if before else external_id),
            owner if owner != KEEP else before.owner,  # type: ignore[union-attr]
            stage if stage is not None else (before.stage if before else None),
            active if active != KEEP else (before.active if before else True),
            {**(before.fields if before else {}), **fields},
        )
        self.recs[rec] = after
        if before is None or before.stage != after.stage:
            self.entered[rec] = self.step
        # the model: a deactivation ends everything; else the exit criteria; then enrollment
        if before is not None:
            for conn in [c for c in self.conns if c.rec == rec and c.status in RUNNING]:
                if before.active and not after.active:
                    self.end(conn, "RECORD_DEACTIVATED")
                elif reason := exit_reason(self.seqs[conn.seq].criteria, before, after):
                    self.end(conn, reason)
        for s, seq in enumerate(self.seqs):
            if not seq.active:
                continue
            starting = [
                r
                for r in seq.rules
                if matches(r, after) and not (before is not None and matches(r, before))
            ]
            chosen = next((r for r in starting if self.may_enroll(r, s, rec)), None)
            if chosen is not None and self.running(s, rec) is None:
                self.new_conn(s, rec, chosen["key"])
        self.settle()
        self.check_step("upsert", rec=rec, before=before, after=after)

    def may_enroll(self, r: dict[str, Any], seq: int, rec: int) -> bool:
        past = [c for c in self.conns if (c.seq, c.rec) == (seq, rec)]
        if not r["allowReenrollment"]:
            return not any(c.enrolled_by == r["key"] for c in past)
        last = max((c.started for c in past), default=None)
        return last is None or self.now - last >= 24 * r["reenrollAfterDays"]

    def _meeting(self, rec: int, by_activity: bool) -> None:
        record_id = self.record_ids[rec]
        if record_id is None:
            return
        self.events += 1
        event = {
            "eventId": f"meeting-{self.events}",
            "kind": "MEETING_BOOKED",
            "recordId": record_id,
            "occurredAt": self.world.clock.now().isoformat(),
        }
        activities = [a for c in self.conns if c.rec == rec for a in c.activities]
        if by_activity and activities:  # the newest, open or closed
            del event["recordId"]
            event["activityId"] = activities[-1]
        payload = self.run(
            self.api.mutate(
                "recordEngagementEvents",
                {"events": [event]},
                "results { recorded errors { code } }",
            )
        )
        assert payload["results"] == [{"recorded": True, "errors": []}], payload
        self.step += 1
        for conn in self.conns:
            exits = self.seqs[conn.seq].criteria.get("meetingBooked")
            if conn.rec == rec and conn.status in RUNNING and exits:
                self.end(conn, "MEETING_BOOKED")
        self.settle()
        self.check_step("meeting", rec=rec)

    def manager(
        self, seq: int, what: str, rules: list[dict[str, Any]], criteria: dict[str, Any]
    ) -> None:
        """A sequence's rules replaced; B deactivated or activated, or given other exit
        criteria (refused while it is active)."""
        if what == "rules":
            self._set_rules(seq, rules)
        elif what == "toggle B":
            self._toggle_b()
        else:
            self._set_b_criteria(criteria)

    def _set_rules(self, seq: int, rules: list[dict[str, Any]]) -> None:
        def as_input(r: dict[str, Any]) -> dict[str, Any]:
            f = r["filter"]
            owner = self.sellers[f["owner"]] if f["owner"] is not None else None
            return {
                **r,
                "filter": {"stage": f["stage"], "ownerUserId": owner, "search": f["search"]},
            }

        payload = self.run(
            self.api.mutate(
                "setEnrollmentRules",
                {"sequenceId": self.seqs[seq].id, "rules": [as_input(r) for r in rules]},
                "sequence { enrollmentRules { key allowReenrollment reenrollAfterDays } }",
            )
        )
        assert payload["errors"] == [], payload
        shown = payload["sequence"]["enrollmentRules"]
        assert [r["key"] for r in shown] == [r["key"] for r in rules]
        self.seqs[seq].rules = rules
        self.step += 1
        self.settle()
        self.check_step("rules")

    def by_hand(self, which: int, action: str) -> None:
        """What a user does: connects a record to a sequence (`which` names both), or acts on
        a running connection (the `which`-th of those it may act on, modulo)."""
        if action == "connect":
            self._connect(which % 2, which // 2)
            return
        wanted = {"pause": ("CONNECTED",), "resume": ("PAUSED",), "disconnect": RUNNING}
        candidates = [
            c
            for c in self.conns
            if c.status in wanted.get(action, ("CONNECTED",)) and (action != "complete" or c.task)
        ]
        if candidates:
            conn = candidates[which % len(candidates)]
            getattr(self, f"_{action}")(conn.seq, conn.rec)

    def _connect(self, seq: int, rec: int) -> None:
        record_id = self.record_ids[rec]
        if record_id is None:
            return
        payload = self.run(
            self.api.mutate(
                "connectSequence",
                {"sequenceId": self.seqs[seq].id, "records": [{"id": record_id}]},
                "results { connection { id } errors { code } }",
            )
        )
        codes = {e["code"] for e in payload["errors"]} | {
            e["code"] for r in payload["results"] for e in r["errors"]
        }
        self.step += 1
        record = self.recs[rec]
        assert record is not None
        if not self.seqs[seq].active:
            expected = {"SEQUENCE_INACTIVE"}
        elif not record.active:
            expected = {"RECORD_INACTIVE"}
        elif self.running(seq, rec) is not None:
            expected = {"ALREADY_CONNECTED"}
        else:
            expected = set()
            self.new_conn(seq, rec, None)
        assert codes == expected, (codes, expected)
        self.settle()
        self.check_step("connect")

    def _on_connection(self, name: str, seq: int, rec: int, wanted: str) -> Conn | None:
        conn = self.running(seq, rec)
        if conn is None or conn.status != wanted:
            return None
        payload = self.run(
            self.api.mutate(name, {"connectionId": conn.id}, "connection { status }")
        )
        assert payload["errors"] == [], payload
        self.step += 1
        return conn

    def _disconnect(self, seq: int, rec: int) -> None:
        conn = self.running(seq, rec)
        if conn is None:
            return
        conn = self._on_connection("disconnectSequence", seq, rec, conn.status)
        assert conn is not None
        self.end(conn, "USER_DISCONNECTED")
        self.settle()
        self.check_step("disconnect", conn=conn)

    def _pause(self, seq: int, rec: int) -> None:
        conn = self._on_connection("pauseConnection", seq, rec, "CONNECTED")
        if conn is None:
            return
        conn.status = "PAUSED"
        self.settle()
        self.check_step("pause")

    def _resume(self, seq: int, rec: int) -> None:
        conn = self._on_connection("resumeConnection", seq, rec, "PAUSED")
        if conn is None:
            return
        conn.status = "CONNECTED"
        if conn.due is not None:
            conn.due = max(conn.due, self.now)
        self.settle()
        self.check_step("resume")

    def _complete(self, seq: int, rec: int) -> None:
        conn = self.running(seq, rec)
        if conn is None or conn.status != "CONNECTED" or not conn.task:
            return
        payload = self.run(
            self.api.mutate("completeActivity", {"activityId": conn.open[0]}, "activity { id }")
        )
        assert payload["errors"] == [], payload
        self.step += 1
        conn.status, conn.reason, conn.task = "COMPLETED", "SEQUENCE_COMPLETED", False
        self.settle()
        self.check_step("complete", conn=conn)

    def _toggle_b(self) -> None:
        b = self.seqs[1]
        name = "deactivateSequence" if b.active else "activateSequence"
        payload = self.run(self.api.mutate(name, {"sequenceId": b.id}, ERRORS))
        assert payload["errors"] == [], payload
        self.step += 1
        b.active = not b.active
        if not b.active:
            for conn in self.conns:
                if conn.seq == 1 and conn.status in RUNNING:
                    self.end(conn, "PARENT_SEQUENCE_DEACTIVATED")
        self.settle()
        self.check_step("toggle")

    def _set_b_criteria(self, criteria: dict[str, Any]) -> None:
        b = self.seqs[1]
        payload = self.run(
            self.api.mutate(
                "setSequenceOptions",
                {"sequenceId": b.id, "exitCriteria": criteria},
                "sequence { options { exitCriteria { meetingBooked stages } } }",
            )
        )
        if b.active:
            assert [e["code"] for e in payload["errors"]] == ["SEQUENCE_ACTIVE"], payload
        else:
            assert payload["errors"] == [], payload
            shown = payload["sequence"]["options"]["exitCriteria"]
            assert shown["stages"] == criteria.get("stages", []), shown
            b.criteria = criteria
        self.step += 1
        self.check_step("criteria")

    def time_passes(self, hours: int) -> None:
        self.world.clock.advance(timedelta(hours=hours))
        self.step += 1
        self.settle()
        self.check_step("time")

    @rule(action=ACTIONS)
    def happens(self, action: tuple[str, dict[str, Any]]) -> None:
        """One of the methods above: a single rule, so that every example mixes them (as
        rules of their own, Hypothesis' swarm testing would turn some off per example)."""
        name, args = action
        getattr(self, name)(**args)

    # --- What must hold ----------------------------------------------------------------------

    def actual(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.run(self.api.ok(CONNECTIONS, {"after": after}))["connections"]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return nodes
            after = page["pageInfo"]["endCursor"]

    def check_step(self, action: str, **what: Any) -> None:
        """The connections read back against the model, and each change of this step
        against what the step did."""
        seq_index = {s.id: i for i, s in enumerate(self.seqs)}
        known = {c.id: c for c in self.conns if c.id is not None}
        fresh = [c for c in self.conns if c.id is None]
        nodes = self.actual()
        before = {c.id: (c.status, c.reason) for c in known.values()}
        for node in nodes:
            if node["id"] in known:
                continue
            key = (seq_index[node["sequence"]["id"]], int(node["record"]["externalId"][1:]))
            match = [c for c in fresh if (c.seq, c.rec) == key]
            assert match, f"{action}: a connection the model did not make: {node}"
            match[0].id = node["id"]
            self.check_new(action, node, match[0], what)
            fresh.remove(match[0])
        assert not fresh, f"{action}: connections the model made are missing: {fresh}"
        for node in nodes:
            conn = next(c for c in self.conns if c.id == node["id"])
            got = (node["status"], node["reason"], node["enrolledBy"])
            assert got == (conn.status, conn.reason, conn.enrolled_by), (action, node, conn)
            if node["endedAt"] is not None:  # on the engine's clock, as it started
                ended, started = (datetime.fromisoformat(node[k]) for k in ("endedAt", "createdAt"))
                assert ended >= started, node
            open_tasks = [a["id"] for a in node["activities"] if a["status"] == "OPEN"]
            assert len(open_tasks) == conn.task, (action, node, conn)
            conn.open = open_tasks
            conn.activities = [a["id"] for a in node["activities"]]
            if node["id"] in before and before[node["id"]][0] in RUNNING and got[0] not in RUNNING:
                self.check_ending(action, conn, what)

    def check_ending(self, action: str, conn: Conn, what: dict[str, Any]) -> None:
        """Invariant 3: the ending's reason is what this step did to this connection."""
        reason = conn.reason
        if reason == "SEQUENCE_COMPLETED":
            assert action == "complete" and what["conn"] is conn, action
            return
        if reason in ("STAGE_REACHED", "FIELD_CONDITION_MET", "RECORD_DEACTIVATED"):
            assert action == "upsert" and what["rec"] == conn.rec, (action, reason)
            before, after = what["before"], what["after"]
            criteria = self.seqs[conn.seq].criteria
            if reason == "STAGE_REACHED":
                assert before.stage != after.stage and after.stage in criteria.get("stages", [])
            elif reason == "FIELD_CONDITION_MET":
                assert any(
                    holds(c, after.fields) and not holds(c, before.fields)
                    for c in criteria.get("fieldConditions", [])
                )
            else:
                assert before.active and not after.active
        elif reason == "MEETING_BOOKED":
            assert action == "meeting" and what["rec"] == conn.rec, action
            assert self.seqs[conn.seq].criteria.get("meetingBooked")
        elif reason == "USER_DISCONNECTED":
            assert action == "disconnect" and what["conn"] is conn, action
        elif reason == "PARENT_SEQUENCE_DEACTIVATED":
            assert action == "toggle" and conn.seq == 1, action
        else:
            raise AssertionError(f"{action}: unexpected reason {reason}")

    def check_new(
        self, action: str, node: dict[str, Any], conn: Conn, what: dict[str, Any]
    ) -> None:
        """Invariant 4: a connection made by a rule, by an upsert that made its record start
        matching the rule, as often as the rule allows."""
        key = node["enrolledBy"]
        if key is None:
            assert action == "connect", (action, node)
            return
        assert action == "upsert" and what["rec"] == conn.rec, (action, node)
        [r] = [r for r in self.seqs[conn.seq].rules if r["key"] == key]
        assert matches(r, what["after"]), (r, what["after"])
        assert what["before"] is None or not matches(r, what["before"]), (r, what["before"])
        past = [c for c in self.conns if (c.seq, c.rec) == (conn.seq, conn.rec) and c is not conn]
        if not r["allowReenrollment"]:
            assert all(c.enrolled_by != key for c in past), (r, past)
        elif past:
            assert conn.started - max(c.started for c in past) >= 24 * r["reenrollAfterDays"]

    @invariant()
    def one_running_per_pair_and_none_left_in_an_exit_stage(self) -> None:
        if not hasattr(self, "conns"):
            return
        pairs = [(c.seq, c.rec) for c in self.conns if c.status in RUNNING]
        assert len(pairs) == len(set(pairs)), pairs
        for c in self.conns:
            record = self.recs[c.rec]
            assert record is not None
            if c.status in RUNNING and record.stage in self.seqs[c.seq].criteria.get("stages", []):
                assert c.step >= self.entered[c.rec], (c, record)


def test_exits_and_enrollment_keep_their_invariants(database_url: str, db: Database) -> None:
    """`db` migrates the database; the machine runs its own app on its own event loop."""
    world = World(database_url)
    ExitsAndEnrollment.world = world
    try:
        run_state_machine_as_test(
            ExitsAndEnrollment,
            settings=settings(
                max_examples=16 * SCALE,
                stateful_step_count=50,
                deadline=None,
                database=None,
                derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        world.close()


async def test_a_connection_never_ends_before_it_started(api: Api, clock: MovableClock) -> None:
    """Every ending is dated by the engine's clock: a user's disconnect, a record's and a
    sequence's deactivation (these used the system time, found while building the machine
    above); the clock is moved as every engine test moves it."""
    seq = await simple_active(api, "Ends")
    clock.advance(timedelta(days=3))
    records = [{"recordType": "lead", "externalId": f"T{i}", "name": f"T{i}"} for i in range(3)]
    payload = await api.mutate("upsertRecords", {"records": records}, "results { record { id } }")
    ids = [{"id": r["record"]["id"]} for r in payload["results"]]
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": ids},
        "results { connection { id } errors { code } }",
    )
    first = connected["results"][0]["connection"]["id"]
    # T0 disconnected (on the clock), T1 deactivated, T2 ended with its sequence
    for name, input in (
        ("disconnectSequence", {"connectionId": first}),
        (
            "upsertRecords",
            {"records": [{"recordType": "lead", "externalId": "T1", "isActive": False}]},
        ),
        ("deactivateSequence", {"sequenceId": seq["id"]}),
    ):
        assert (await api.mutate(name, input, "__typename"))["errors"] == []
    data = await api.ok(
        "query($f: ConnectionFilter) { connections(filter: $f, first: 10)"
        " { nodes { reason createdAt endedAt } } }",
        {"f": {"sequenceId": seq["id"]}},
    )
    ended = {
        n["reason"]: (datetime.fromisoformat(n["createdAt"]), datetime.fromisoformat(n["endedAt"]))
        for n in data["connections"]["nodes"]
    }
    assert set(ended) == {"USER_DISCONNECTED", "RECORD_DEACTIVATED", "PARENT_SEQUENCE_DEACTIVATED"}
    assert {reason: end >= start for reason, (start, end) in ended.items()} == dict.fromkeys(
        ended, True
    )
