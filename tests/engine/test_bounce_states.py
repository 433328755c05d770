"""Bounces explored: random interleavings of connects, sends through a loopback SMTP server
that accepts, refuses hard (550 5.1.1) or soft (452 4.2.2), bounce messages fed in (hard or
soft DSNs), EMAIL_BOUNCED events and a moved clock, through GraphQL. After every step:

1. A suppressed address never receives another automated email.
2. Every connection that ended BOUNCED has its record's address on the suppression list.
3. Only a hard bounce suppressed an address (a hard DSN or event fed in, or a 550 refusal).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from typing import Any

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
from tests.engine.conftest import Inbox
from tests.engine.test_bounces import dsn

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
AUTO = {"template": {"subject": "Hi {{ first_name }}", "body": "Hello {{ first_name }}!"}}
LEADS = 3
HARD_REPLY = "550 5.1.1 <x>: Recipient address rejected: User unknown"
SOFT_REPLY = "452 4.2.2 Mailbox full"
OUTBOX = "{ outbox(first: 100) { nodes { to messageId status lastError } } }"


class World:
    """The app sending to the loopback server, on an event loop of the test's own."""

    def __init__(self, database_url: str, inbox: Inbox) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = MovableClock()
        self.inbox = inbox
        self.db = Database(Settings(database_url=database_url))
        settings_ = Settings(
            database_url=database_url,
            smtp_url=f"smtp://127.0.0.1:{inbox.port}?starttls=off",
            mail_from="robot@sekvens.test",
            smtp_timeout_seconds=10,
            mailbox_send_interval_seconds=0,
        )
        self.app = create_app(settings_, self.db, clock=self.clock)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://sekvens.test"
        )

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.db.dispose())
        self.loop.close()


class Bounces(RuleBasedStateMachine):
    world: World

    @initialize()
    def setup(self) -> None:
        self.inbox = self.world.inbox
        self.inbox.rcpt_reply = None
        self.api: Api = self.run(new_org(self.world.http, self.world.db))
        self.run(self._setup())
        #: address -> emails it had received when it was first seen suppressed
        self.received_when_suppressed: dict[str, int] = {}
        #: addresses a hard bounce was fed in for
        self.hard_fed: set[str] = set()
        self.n = 0

    def run(self, coro: Any) -> Any:
        return self.world.run(coro)

    async def _setup(self) -> None:
        api = self.api
        _, token = await api.user(["SALESPERSON"])
        seller = (await api.as_token(token).ok("{ viewer { user { id } } }"))["viewer"]["user"]
        # A: email -> wait 1 day -> email -> task; B: email -> task
        a = await create(api, "Two mails")
        first = (await add(api, a, start_id(a), "email.auto", AUTO))["step"]
        wait = (await add(api, a, first["id"], "core.wait", {"days": 1}))["step"]
        second = (await add(api, a, wait["id"], "email.auto", AUTO))["step"]
        await add(api, a, second["id"], "core.task", {"subject": "Call"})
        b = await create(api, "One mail")
        mail = (await add(api, b, start_id(b), "email.auto", AUTO))["step"]
        await add(api, b, mail["id"], "core.task", {"subject": "Call"})
        self.sequences = [a["id"], b["id"]]
        for s in (a, b):
            await api.mutate(
                "setSequenceOptions",
                {"sequenceId": s["id"], "skipNonWorkingTime": False},
                "errors { code }",
            )
            payload = await api.mutate(
                "activateSequence", {"sequenceId": s["id"]}, "errors { code }"
            )
            assert payload["errors"] == [], payload
        tag = uuid.uuid4().hex[:8]
        self.addresses = [f"lead{i}-{tag}@example.com" for i in range(LEADS)]
        records = [
            {
                "recordType": "lead",
                "externalId": f"L{i}",
                "name": f"Lead {i}",
                "ownerUserId": seller["id"],
                "fields": {"first_name": f"Ann{i}", "email": address},
            }
            for i, address in enumerate(self.addresses)
        ]
        payload = await api.mutate(
            "upsertRecords", {"records": records}, "results { record { id } }"
        )
        self.records = [r["record"]["id"] for r in payload["results"]]

    def settle(self) -> None:
        self.run(self.world.app.state.services.engine.run_until_idle())
        self.note_suppressed()

    def note_suppressed(self) -> None:
        for address in self.suppressed():
            self.received_when_suppressed.setdefault(address, len(self.inbox.to(address)))

    def suppressed(self) -> dict[str, str]:
        data = self.run(
            self.api.ok("{ suppressedAddresses(first: 100) { nodes { address source } } }")
        )
        return {n["address"]: n["source"] for n in data["suppressedAddresses"]["nodes"]}

    def sent(self) -> list[dict[str, Any]]:
        nodes = self.run(self.api.ok(OUTBOX))["outbox"]["nodes"]
        return [m for m in nodes if m["status"] == "SENT"]

    # --- What happens ------------------------------------------------------------------------

    @rule(sequence=st.integers(0, 1), record=st.integers(0, LEADS - 1))
    def connect(self, sequence: int, record: int) -> None:
        self.run(
            self.api.mutate(
                "connectSequence",
                {"sequenceId": self.sequences[sequence], "records": [{"id": self.records[record]}]},
                "results { errors { code } }",
            )
        )
        self.settle()

    @rule(reply=st.sampled_from([None, None, HARD_REPLY, SOFT_REPLY]))
    def smtp_answers(self, reply: str | None) -> None:
        self.inbox.rcpt_reply = reply

    @rule(which=st.integers(0, 20), hard=st.booleans(), as_event=st.booleans())
    def bounce(self, which: int, hard: bool, as_event: bool) -> None:
        sent = self.sent()
        if not sent:
            return
        message = sent[which % len(sent)]
        self.n += 1
        if as_event:
            event = {
                "eventId": f"bounce-{self.n}",
                "kind": "EMAIL_BOUNCED",
                "messageId": message["messageId"],
                "occurredAt": self.world.clock.now().isoformat(),
                "bounceType": "HARD" if hard else "SOFT",
            }
            payload = self.run(
                self.api.mutate(
                    "recordEngagementEvents", {"events": [event]}, "results { recorded }"
                )
            )
        else:
            sample = "dsn_postfix_user_unknown.eml" if hard else "dsn_exim_over_quota.eml"
            raw = dsn(sample, message["messageId"], message["to"])
            payload = self.run(
                self.api.mutate(
                    "recordBounceMessages", {"messages": [raw]}, "results { recorded duplicate }"
                )
            )
        assert payload["errors"] == [], payload
        if hard:
            self.hard_fed.add(message["to"])
        self.note_suppressed()
        self.settle()

    @rule(hours=st.sampled_from([0, 1, 25]))
    def time_passes(self, hours: int) -> None:
        self.world.clock.advance(timedelta(hours=hours, minutes=1))
        self.settle()

    # --- What must hold ----------------------------------------------------------------------

    @invariant()
    def a_suppressed_address_gets_no_more_email(self) -> None:
        for address, count in self.received_when_suppressed.items():
            assert len(self.inbox.to(address)) == count, address

    @invariant()
    def bounced_connections_have_suppressed_addresses(self) -> None:
        data = self.run(
            self.api.ok("{ connections(first: 100) { nodes { reason record { fields } } } }")
        )
        suppressed = self.suppressed()
        for conn in data["connections"]["nodes"]:
            if conn["reason"] == "BOUNCED":
                assert conn["record"]["fields"]["email"] in suppressed

    @invariant()
    def only_hard_bounces_suppress(self) -> None:
        refused_hard = {
            m["to"]
            for m in self.run(self.api.ok(OUTBOX))["outbox"]["nodes"]
            if m["status"] == "FAILED" and "550 5.1.1" in (m["lastError"] or "")
        }
        for address, source in self.suppressed().items():
            assert source == "BOUNCED"
            assert address in self.hard_fed | refused_hard, address


def test_bounces_keep_their_invariants(database_url: str, db: Database, smtp_server: Inbox) -> None:
    """`db` migrates the database; the machine runs its own app on its own event loop."""
    world = World(database_url, smtp_server)
    Bounces.world = world
    try:
        run_state_machine_as_test(
            Bounces,
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
        smtp_server.rcpt_reply = None
        world.close()
