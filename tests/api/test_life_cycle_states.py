"""The runtime explored: random interleavings of what users, customers and the worker do,
through the public GraphQL API with a moved clock, checking after every step what must
always hold between connections, activities, messages and statistics.

Invariants:

1. No open activity belongs to a connection that is not running.
2. A record runs at most once per sequence.
3. Every CONNECTED connection waits on exactly one thing: an open activity (phase
   ACTIVITY, no due time), or a due time (EXECUTE, WAIT, EVENTS) with no open activity.
4. `Sequence.stats` equal the counts recomputed from the rows.
5. Nothing is queued for a record marked "do not email", or to an address after it was
   suppressed; no step emails a record twice.
6. A seller's `upNext` holds exactly the open activities assigned to them.

`make test` runs a fixed seed at a modest size; `make fuzz` (SEKVENS_FUZZ_SCALE) runs longer.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.domain.global_ids import from_global_id
from sekvens.storage.db import Database
from sekvens.storage.tables import Activity, ActivityAssignee, Connection, OutboxMessage
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api, MovableClock, new_org

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
AUTO = {"template": {"subject": "Hi {{ first_name }}", "body": "Hello {{ first_name }}!"}}
LEADS = 4
ERRORS = "errors { code }"


class World:
    """The app, its engine and an organization, on an event loop of the test's own."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = MovableClock()
        self.db = Database(Settings(database_url=database_url))
        self.app = create_app(self.db.settings, self.db, clock=self.clock)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://sekvens.test"
        )

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.db.dispose())
        self.loop.close()


class LifeCycles(RuleBasedStateMachine):
    world: World

    connections = Bundle("connections")

    @initialize()
    def setup(self) -> None:
        self.api: Api = self.world.run(new_org(self.world.http, self.world.db))
        self.run(self._setup())

    def run(self, coro: Any) -> Any:
        return self.world.run(coro)

    def settle(self) -> None:
        """The worker runs what is due now, as the in-process worker would."""
        self.run(self.world.app.state.services.engine.run_until_idle())

    async def _setup(self) -> None:
        api = self.api
        _, self.seller_token = await api.user(["SALESPERSON"])
        me = await api.as_token(self.seller_token).ok("{ viewer { user { id } } }")
        seller_id = me["viewer"]["user"]["id"]
        # A: task -> wait 1 day -> automated email -> replied? (2 days) -> YES task / NO call
        a = await create(api, "Outreach")
        task = (await add(api, a, start_id(a), "core.task", {"subject": "Research"}))["step"]
        wait = (await add(api, a, task["id"], "core.wait", {"days": 1}))["step"]
        mail = (await add(api, a, wait["id"], "email.auto", AUTO))["step"]
        cond = (
            await add(api, a, mail["id"], "email.condition", {"events": ["REPLIED"], "days": 2})
        )["step"]
        await add(api, a, cond["id"], "core.task", {"subject": "Book"}, branch="YES")
        await add(api, a, cond["id"], "call.phone", {"script": "Call"}, branch="NO")
        await api.mutate(
            "setSequenceOptions", {"sequenceId": a["id"], "exitOnReply": True}, "sequence { id }"
        )
        # B: automated email -> manual email
        b = await create(api, "Follow-up")
        mail_b = (await add(api, b, start_id(b), "email.auto", AUTO))["step"]
        await add(api, b, mail_b["id"], "email.manual", {})
        self.sequences = [a["id"], b["id"]]
        self.active = {s: False for s in self.sequences}
        for s in self.sequences:
            self._activate(await api.mutate("activateSequence", {"sequenceId": s}, ERRORS), s)
        records = [
            {
                "recordType": "lead",
                "externalId": f"L{i}",
                "name": f"Lead {i}",
                "ownerUserId": seller_id,
                "fields": {
                    "first_name": f"Ann{i}",
                    "email": f"lead{i}@example.com",
                    "do_not_email": i == 0,
                },
            }
            for i in range(LEADS)
        ]
        payload = await api.mutate(
            "upsertRecords", {"records": records}, "results { record { id } }"
        )
        self.records = [r["record"]["id"] for r in payload["results"]]
        self.record_active = dict.fromkeys(self.records, True)
        #: address -> the clock's time when it was suppressed
        self.suppressed: dict[str, Any] = {}

    def _activate(self, payload: dict[str, Any], sequence: str) -> None:
        assert payload["errors"] == [], payload
        self.active[sequence] = True

    # --- What users, customers and the worker do ------------------------------------------

    @rule(
        target=connections,
        sequence=st.integers(0, 1),
        record=st.integers(0, LEADS - 1),
    )
    def connect(self, sequence: int, record: int) -> Any:
        payload = self.run(
            self.api.mutate(
                "connectSequence",
                {
                    "sequenceId": self.sequences[sequence],
                    "records": [{"id": self.records[record]}],
                },
                f"{ERRORS} results {{ connection {{ id }} errors {{ code }} }}",
            )
        )
        self.settle()
        [result] = payload["results"] or [{"connection": None, "errors": payload["errors"]}]
        codes = {e["code"] for e in result["errors"] + payload["errors"]}
        assert codes <= {"ALREADY_CONNECTED", "RECORD_INACTIVE", "SEQUENCE_INACTIVE"}, codes
        return result["connection"]["id"] if result["connection"] else "none"

    def _act(self, name: str, connection: str) -> None:
        if connection == "none":
            return
        payload = self.run(self.api.mutate(name, {"connectionId": connection}, "connection { id }"))
        codes = {e["code"] for e in payload["errors"]}
        assert codes <= {"CONNECTION_ENDED", "INVALID_VALUE", "INVALID_STATE"}, codes
        self.settle()

    @rule(connection=connections)
    def disconnect(self, connection: str) -> None:
        self._act("disconnectSequence", connection)

    @rule(connection=connections)
    def pause(self, connection: str) -> None:
        self._act("pauseConnection", connection)

    @rule(connection=connections)
    def resume(self, connection: str) -> None:
        self._act("resumeConnection", connection)

    @rule(which=st.integers(0, 20), action=st.sampled_from(["complete", "skip", "snooze"]))
    def work(self, which: int, action: str) -> None:
        seller = self.api.as_token(self.seller_token)
        nodes = self.run(seller.ok("{ upNext(first: 50) { nodes { id kind } } }"))["upNext"][
            "nodes"
        ]
        if not nodes:
            return
        activity = nodes[which % len(nodes)]
        if action == "snooze":
            until = (self.world.clock.now() + timedelta(hours=3)).isoformat()
            payload = self.run(
                seller.mutate(
                    "snoozeActivity",
                    {"activityId": activity["id"], "until": until},
                    "activity { id }",
                )
            )
        elif action == "skip":
            payload = self.run(
                seller.mutate("skipActivity", {"activityId": activity["id"]}, "activity { id }")
            )
        else:
            extra = {"outcome": "Connected"} if activity["kind"] == "CALL" else {}
            payload = self.run(
                seller.mutate(
                    "completeActivity", {"activityId": activity["id"], **extra}, "activity { id }"
                )
            )
        assert payload["errors"] == [], payload
        self.settle()

    @rule(which=st.integers(0, 20), kind=st.sampled_from(["EMAIL_OPENED", "EMAIL_REPLIED"]))
    def customer(self, which: int, kind: str) -> None:
        messages = self.run(self._rows(OutboxMessage))
        if not messages:
            return
        message = messages[which % len(messages)]
        payload = self.run(
            self.api.mutate(
                "recordEngagementEvents",
                {
                    "events": [
                        {
                            "eventId": f"e{self.world.clock.now().timestamp()}-{which}",
                            "kind": kind,
                            "messageId": message.message_id,
                            "occurredAt": self.world.clock.now().isoformat(),
                        }
                    ]
                },
                "results { errors { code } }",
            )
        )
        assert payload["errors"] == [] and payload["results"][0]["errors"] == [], payload
        self.settle()

    @rule(record=st.integers(0, LEADS - 1))
    def toggle_record(self, record: int) -> None:
        rid = self.records[record]
        self.record_active[rid] = not self.record_active[rid]
        payload = self.run(
            self.api.mutate(
                "upsertRecords",
                {
                    "records": [
                        {
                            "recordType": "lead",
                            "externalId": f"L{record}",
                            "name": f"Lead {record}",
                            "isActive": self.record_active[rid],
                        }
                    ]
                },
                "createdCount",
            )
        )
        assert payload["errors"] == [], payload

    @rule(sequence=st.integers(0, 1))
    def toggle_sequence(self, sequence: int) -> None:
        s = self.sequences[sequence]
        name = "deactivateSequence" if self.active[s] else "activateSequence"
        payload = self.run(self.api.mutate(name, {"sequenceId": s}, ERRORS))
        assert payload["errors"] == [], payload
        self.active[s] = not self.active[s]
        self.settle()

    @rule(record=st.integers(1, LEADS - 1))
    def suppress(self, record: int) -> None:
        address = f"lead{record}@example.com"
        payload = self.run(
            self.api.mutate("addSuppressedAddresses", {"addresses": [address]}, "addedCount")
        )
        assert payload["errors"] == [], payload
        self.suppressed.setdefault(address, self.world.clock.now())

    @rule(hours=st.sampled_from([0, 1, 5, 24, 72]))
    def time_passes(self, hours: int) -> None:
        self.world.clock.advance(timedelta(hours=hours))
        self.settle()

    # --- What must always hold ------------------------------------------------------------

    async def _rows(self, model: Any) -> list[Any]:
        async with self.world.db.session() as session:
            return list(
                await session.scalars(select(model).where(model.organization_id == self.api.org_id))
            )

    @invariant()
    def consistent(self) -> None:
        if not hasattr(self, "api"):
            return
        self.run(self._check())

    async def _check(self) -> None:
        conns = {c.id: c for c in await self._rows(Connection)}
        activities = await self._rows(Activity)
        messages = await self._rows(OutboxMessage)
        open_by_conn = Counter(a.connection_id for a in activities if a.status == "OPEN")
        running = [c for c in conns.values() if c.status in ("CONNECTED", "PAUSED")]
        # 1. open work only on running connections
        for conn_id in open_by_conn:
            assert conns[conn_id].status in ("CONNECTED", "PAUSED"), conns[conn_id].status
        # 2. a record runs at most once per sequence
        pairs = Counter((c.sequence_id, c.record_id) for c in running)
        assert all(n == 1 for n in pairs.values()), pairs
        # 3. a running connection waits on exactly one thing
        for c in running:
            if c.phase == "ACTIVITY":
                assert open_by_conn[c.id] == 1 and c.next_run_at is None, (c.id, c.phase)
            else:
                assert open_by_conn[c.id] == 0 and c.next_run_at is not None, (c.id, c.phase)
        # 5. opted-out recipients get nothing; no step emails twice
        for m in messages:
            assert m.to_address != "lead0@example.com", "a do-not-email record was emailed"
            since = self.suppressed.get(m.to_address)
            assert since is None or m.created_at < since, f"{m.to_address} was suppressed"
        sent = Counter(m.idempotency_key for m in messages)
        assert all(n == 1 for n in sent.values())
        # 4. statistics equal the rows
        for sequence in self.sequences:
            await self._check_stats(sequence, conns, activities)
        # 6. up next is exactly the seller's open activities
        async with self.world.db.session() as session:
            assigned = set(
                await session.scalars(
                    select(ActivityAssignee.activity_id)
                    .join(Activity, Activity.id == ActivityAssignee.activity_id)
                    .where(
                        Activity.organization_id == self.api.org_id,
                        Activity.status == "OPEN",
                    )
                )
            )
        seller = self.api.as_token(self.seller_token)
        listed = (await seller.ok("{ upNext(first: 100) { totalCount } }"))["upNext"]
        assert listed["totalCount"] == len(assigned)

    async def _check_stats(
        self, sequence: str, conns: dict[int, Connection], activities: list[Activity]
    ) -> None:
        data = await self.api.ok(
            "query($id: ID!) { sequence(id: $id) { stats { connected running paused completed"
            " disconnected inError steps { stepKey open completed skipped canceled } } } }",
            {"id": sequence},
        )
        stats = data["sequence"]["stats"]
        pk = int(from_global_id(sequence)[1])
        mine = [c for c in conns.values() if c.sequence_id == pk]
        status = Counter(c.status for c in mine)
        assert stats["connected"] == len(mine)
        assert (
            stats["running"],
            stats["paused"],
            stats["completed"],
            stats["disconnected"],
            stats["inError"],
        ) == (
            status["CONNECTED"],
            status["PAUSED"],
            status["COMPLETED"],
            status["DISCONNECTED"],
            status["ERROR"],
        )
        rows = Counter((a.step_key, a.status) for a in activities if a.sequence_id == pk)
        for step in stats["steps"]:
            key = step["stepKey"]
            assert (step["open"], step["completed"], step["skipped"], step["canceled"]) == (
                rows[(key, "OPEN")],
                rows[(key, "COMPLETED")],
                rows[(key, "SKIPPED")],
                rows[(key, "CANCELED")],
            ), key


def test_life_cycles_keep_their_invariants(database_url: str, db: Database) -> None:
    """`db` migrates the database; the machine runs its own app on its own event loop."""
    world = World(database_url)
    LifeCycles.world = world
    try:
        run_state_machine_as_test(
            LifeCycles,
            settings=settings(
                max_examples=8 * SCALE,
                stateful_step_count=30,
                deadline=None,
                database=None,
                derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        world.close()
