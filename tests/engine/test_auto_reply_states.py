"""The recipient's out-of-office explored: random interleavings of auto-replies (events with
and without a return date, raw messages stating one), manual pauses (with and without a
resume time), manual resumes and a moved clock, with the engine run after each, through
GraphQL on a sequence that exits on reply. After every step:

1. `pauseReason` is set exactly when the connection is PAUSED, and `resumeAt` only then.
2. A connection paused AUTO_REPLY has a `resumeAt`, and none is still paused past it.
3. A connection that stayed PAUSED got no new email meanwhile.
4. No auto-reply ended a connection (no EXIT_CRITERION_MET: they are never replies).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage.db import Database
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api, MovableClock, new_org

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
AUTO = {"template": {"subject": "Hi {{ first_name }}", "body": "Hello {{ first_name }}!"}}
ZONES = ("UTC", "Pacific/Auckland")
CONNECTIONS = (
    "{ connections(first: 100) { nodes { id status reason pauseReason resumeAt"
    " record { externalId } activities { kind } } } }"
)


class World:
    """The app (no mail transport: emails are stored), on an event loop of the test's own."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = MovableClock()
        self.db = Database(Settings(database_url=database_url))
        self.app = create_app(Settings(database_url=database_url), self.db, clock=self.clock)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://sekvens.test"
        )

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.db.dispose())
        self.loop.close()


class OutOfOffice(RuleBasedStateMachine):
    world: World

    @initialize()
    def setup(self) -> None:
        self.api: Api = self.run(new_org(self.world.http, self.world.db))
        self.run(self._setup())
        self.n = 0
        #: connection id -> its email count, while it was PAUSED at the last check
        self.paused_emails: dict[str, int] = {}
        self.settle()

    def run(self, coro: Any) -> Any:
        return self.world.run(coro)

    async def _setup(self) -> None:
        api = self.api
        _, token = await api.user(["SALESPERSON"])
        seller = (await api.as_token(token).ok("{ viewer { user { id } } }"))["viewer"]["user"]
        # email -> wait 1 day -> email -> wait 1 day -> email -> task, exit on reply
        seq = await create(api, "Three mails")
        step = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
        for _ in range(2):
            wait = (await add(api, seq, step["id"], "core.wait", {"days": 1}))["step"]
            step = (await add(api, seq, wait["id"], "email.auto", AUTO))["step"]
        await add(api, seq, step["id"], "core.task", {"subject": "Call"})
        options = {"sequenceId": seq["id"], "skipNonWorkingTime": False, "exitOnReply": True}
        await api.mutate("setSequenceOptions", options, "errors { code }")
        payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "errors { code }")
        assert payload["errors"] == [], payload
        tag = uuid.uuid4().hex[:8]
        self.addresses = [f"lead{i}-{tag}@example.com" for i in range(len(ZONES))]
        records = [
            {
                "recordType": "lead",
                "externalId": f"L{i}",
                "name": f"Lead {i}",
                "ownerUserId": seller["id"],
                "fields": {"first_name": f"Ann{i}", "email": address, "time_zone": zone},
            }
            for i, (address, zone) in enumerate(zip(self.addresses, ZONES, strict=True))
        ]
        upserted = await api.mutate(
            "upsertRecords", {"records": records}, "results { record { id } }"
        )
        connected = await api.mutate(
            "connectSequence",
            {
                "sequenceId": seq["id"],
                "records": [{"id": r["record"]["id"]} for r in upserted["results"]],
            },
            "results { connection { id } }",
        )
        self.conns = [r["connection"]["id"] for r in connected["results"]]

    def settle(self) -> None:
        self.run(self.world.app.state.services.engine.run_until_idle())

    def connections(self) -> dict[str, dict[str, Any]]:
        nodes = self.run(self.api.ok(CONNECTIONS))["connections"]["nodes"]
        return {c["id"]: c for c in nodes}

    def last_message(self, lead: int) -> str | None:
        nodes = self.run(self.api.ok("{ outbox(first: 100) { nodes { to messageId } } }"))
        ids = [m["messageId"] for m in nodes["outbox"]["nodes"] if m["to"] == self.addresses[lead]]
        return ids[0] if ids else None

    # --- What happens ------------------------------------------------------------------------

    @rule(
        lead=st.integers(0, len(ZONES) - 1),
        days=st.one_of(st.none(), st.integers(0, 9)),
        raw=st.booleans(),
    )
    def auto_reply(self, lead: int, days: int | None, raw: bool) -> None:
        message_id = self.last_message(lead)
        if message_id is None:
            return
        now = self.world.clock.now()
        back = (
            (now + timedelta(days=days)).astimezone(ZoneInfo(ZONES[lead])).date()
            if days is not None
            else None
        )
        self.n += 1
        if raw:
            text = f"Out of office, back on {back.day} {back:%B}." if back else "Out of office."
            message = (
                f"From: {self.addresses[lead]}\r\nSubject: Out of office\r\n"
                f"Date: {format_datetime(now)}\r\nMessage-ID: <ooo-{self.n}@customer.example>\r\n"
                f"In-Reply-To: {message_id}\r\nAuto-Submitted: auto-replied\r\n\r\n{text}\r\n"
            )
            payload = self.run(
                self.api.mutate(
                    "recordInboundMessages",
                    {"messages": [message]},
                    "results { kind errors { code } }",
                )
            )
            assert payload["results"] == [{"kind": "EMAIL_AUTO_REPLY", "errors": []}], payload
        else:
            event: dict[str, Any] = {
                "eventId": f"ooo-{self.n}",
                "kind": "EMAIL_AUTO_REPLY",
                "messageId": message_id,
                "occurredAt": now.isoformat(),
            }
            if back is not None:
                event["returnDate"] = back.isoformat()
            payload = self.run(
                self.api.mutate(
                    "recordEngagementEvents", {"events": [event]}, "results { errors { code } }"
                )
            )
            assert payload["results"] == [{"errors": []}], payload
        self.settle()

    @rule(lead=st.integers(0, len(ZONES) - 1), hours=st.sampled_from([None, 2, 50]))
    def pause(self, lead: int, hours: int | None) -> None:
        given: dict[str, Any] = {"connectionId": self.conns[lead]}
        if hours is not None:
            given["resumeAt"] = (self.world.clock.now() + timedelta(hours=hours)).isoformat()
        self.run(self.api.mutate("pauseConnection", given, "connection { id }"))
        self.settle()

    @rule(lead=st.integers(0, len(ZONES) - 1))
    def resume(self, lead: int) -> None:
        self.run(
            self.api.mutate(
                "resumeConnection", {"connectionId": self.conns[lead]}, "connection { id }"
            )
        )
        self.settle()

    @rule(hours=st.sampled_from([1, 25, 24 * 7]))
    def time_passes(self, hours: int) -> None:
        self.world.clock.advance(timedelta(hours=hours, minutes=1))
        self.settle()

    # --- What must hold ----------------------------------------------------------------------

    @invariant()
    def pauses_are_consistent(self) -> None:
        now = self.world.clock.now()
        emails: dict[str, int] = {}
        for conn_id, conn in self.connections().items():
            paused = conn["status"] == "PAUSED"
            assert (conn["pauseReason"] is not None) == paused, conn
            assert conn["resumeAt"] is None or paused, conn
            assert conn["reason"] != "EXIT_CRITERION_MET", conn
            if conn["pauseReason"] == "AUTO_REPLY":
                assert conn["resumeAt"] is not None, conn
            if conn["resumeAt"] is not None:
                assert datetime.fromisoformat(conn["resumeAt"]) > now, conn
            count = sum(1 for a in conn["activities"] if a["kind"] == "EMAIL")
            if paused:
                assert self.paused_emails.get(conn_id, count) == count, conn
                emails[conn_id] = count
        self.paused_emails = emails


def test_out_of_office_pauses_keep_their_invariants(database_url: str, db: Database) -> None:
    """`db` migrates the database; the machine runs its own app on its own event loop."""
    world = World(database_url)
    OutOfOffice.world = world
    try:
        run_state_machine_as_test(
            OutOfOffice,
            settings=settings(
                max_examples=6 * SCALE,
                stateful_step_count=25,
                deadline=None,
                database=None,
                derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        world.close()
