"""Sending explored: random interleavings of connects, send-window changes, pauses and
resumes, records marked "do not email", suppressed addresses and a moved clock, through
GraphQL, with a mailbox limit of 3 a day, an organization limit of 2 an hour and pacing of
10 minutes, sending through a loopback SMTP server. After every step, of every message sent:

1. It went inside its recipient's send window as it stood when it went (read on the
   recipient's wall clock by a reference of this test, not by `domain.send_windows`).
2. It did not go while its connection was paused.
3. It did not go after its record was marked "do not email" or its address suppressed.
4. No mailbox sent more than 3 in any 24 hours, the organization no more than 2 in any hour,
   and one mailbox's sends are at least 10 minutes apart.
5. Every message not sent yet says why and when it goes: QUEUED with a `waitReason` and a
   `nextAttemptAt` in the future (a connection that is paused: `CONNECTION_PAUSED`).

Tolerances of a few seconds cover the time between a claim (the moment the rules are read
at) and the moment the server accepted the message (`sentAt`).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api, new_org
from tests.engine.conftest import Inbox
from tests.engine.test_bounce_states import World

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
AUTO = {"template": {"subject": "Hi {{ first_name }}", "body": "Hello {{ first_name }}!"}}
ZONES = ("UTC", "America/New_York", "Asia/Tokyo")
WINDOWS: tuple[dict[str, Any] | None, ...] = (
    None,
    {"weekdays": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"},
    {"weekdays": [2, 4, 6], "start": "10:00", "end": "12:30"},
)
DAILY, HOURLY, INTERVAL = 3, 2, timedelta(minutes=10)
SLACK = timedelta(seconds=5)
OUTBOX = (
    "{ outbox(first: 100) { nodes { to status sentAt waitReason nextAttemptAt fromAddress } } }"
)
CONNECTIONS = "{ connections(first: 100) { nodes { id status record { fields } } } }"


def in_window(at: datetime, zone: str, window: dict[str, Any] | None) -> bool:
    """Whether `at` lies in `window` on the wall clock of `zone` (no window: always); the
    end is allowed SLACK late."""
    if window is None:
        return True
    start, end = (time.fromisoformat(window[k]) for k in ("start", "end"))
    for moment in (at, at - SLACK):
        local = moment.astimezone(ZoneInfo(zone))
        if local.isoweekday() in window["weekdays"] and start <= local.time() < end:
            return True
    return False


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


class Sending(RuleBasedStateMachine):
    world: World

    @initialize()
    def setup(self) -> None:
        self.api: Api = self.run(new_org(self.world.http, self.world.db))
        deliverer = self.world.app.state.services.engine.deliverer
        deliverer.mailbox_daily_limit, deliverer.org_hourly_limit = DAILY, HOURLY
        deliverer.send_interval = INTERVAL
        self.run(self._setup())
        #: (from, window) in the order they were set; the first from the start
        self.windows: list[tuple[datetime, dict[str, Any] | None]] = [
            (self.world.clock.now() - timedelta(days=365), None)
        ]
        #: address -> [(paused at, resumed at or None)]
        self.paused: dict[str, list[tuple[datetime, datetime | None]]] = {}
        #: address -> when it was opted out (do not email or suppressed)
        self.opted_out: dict[str, datetime] = {}

    def run(self, coro: Any) -> Any:
        return self.world.run(coro)

    async def _setup(self) -> None:
        api = self.api
        _, token = await api.user(["SALESPERSON"])
        seller = (await api.as_token(token).ok("{ viewer { user { id } } }"))["viewer"]["user"]
        seq = await create(api, "Two mails")
        first = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
        wait = (await add(api, seq, first["id"], "core.wait", {"hours": 2}))["step"]
        second = (await add(api, seq, wait["id"], "email.auto", AUTO))["step"]
        await add(api, seq, second["id"], "core.task", {"subject": "Call"})
        await api.mutate(
            "setSequenceOptions",
            {"sequenceId": seq["id"], "skipNonWorkingTime": False},
            "errors { code }",
        )
        payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "errors { code }")
        assert payload["errors"] == [], payload
        self.sequence = seq["id"]
        tag = uuid.uuid4().hex[:8]
        self.addresses = [f"lead{i}-{tag}@example.com" for i in range(len(ZONES))]
        self.zones = dict(zip(self.addresses, ZONES, strict=True))
        self.records_input = [
            {
                "recordType": "lead",
                "externalId": f"L{i}",
                "name": f"Lead {i}",
                "ownerUserId": seller["id"],
                "fields": {"first_name": f"Ann{i}", "email": address, "time_zone": zone},
            }
            for i, (address, zone) in enumerate(self.zones.items())
        ]
        payload = await api.mutate(
            "upsertRecords", {"records": self.records_input}, "results { record { id } }"
        )
        self.records = [r["record"]["id"] for r in payload["results"]]

    def settle(self) -> None:
        self.run(self.world.app.state.services.engine.run_until_idle())

    def outbox(self) -> list[dict[str, Any]]:
        return self.run(self.api.ok(OUTBOX))["outbox"]["nodes"]

    def connection_of(self, address: str) -> dict[str, Any] | None:
        nodes = self.run(self.api.ok(CONNECTIONS))["connections"]["nodes"]
        running = [
            c
            for c in nodes
            if c["record"]["fields"]["email"] == address and c["status"] in ("CONNECTED", "PAUSED")
        ]
        return running[0] if running else None

    # --- What happens ------------------------------------------------------------------------

    @rule(record=st.integers(0, len(ZONES) - 1))
    def connect(self, record: int) -> None:
        self.run(
            self.api.mutate(
                "connectSequence",
                {"sequenceId": self.sequence, "records": [{"id": self.records[record]}]},
                "results { errors { code } }",
            )
        )
        self.settle()

    @rule(window=st.sampled_from(WINDOWS))
    def set_window(self, window: dict[str, Any] | None) -> None:
        payload = self.run(
            self.api.mutate(
                "updateOrganizationSettings", {"sendWindow": window}, "organization { id }"
            )
        )
        assert payload["errors"] == [], payload
        self.windows.append((self.world.clock.now(), window))

    @rule(record=st.integers(0, len(ZONES) - 1), pause=st.booleans())
    def pause_or_resume(self, record: int, pause: bool) -> None:
        address = self.addresses[record]
        conn = self.connection_of(address)
        if conn is None or (conn["status"] == "PAUSED") == pause:
            return
        mutation = "pauseConnection" if pause else "resumeConnection"
        payload = self.run(
            self.api.mutate(mutation, {"connectionId": conn["id"]}, "connection { status }")
        )
        assert payload["errors"] == [], payload
        now = self.world.clock.now()
        spans = self.paused.setdefault(address, [])
        if pause:
            spans.append((now, None))
        else:
            spans[-1] = (spans[-1][0], now)
        self.settle()

    @rule(record=st.integers(0, len(ZONES) - 1), suppress=st.booleans())
    def opt_out(self, record: int, suppress: bool) -> None:
        address = self.addresses[record]
        if suppress:
            payload = self.run(
                self.api.mutate(
                    "addSuppressedAddresses", {"addresses": [address]}, "errors { code }"
                )
            )
        else:
            changed = dict(self.records_input[record])
            changed["fields"] = {**changed["fields"], "do_not_email": True}
            payload = self.run(
                self.api.mutate("upsertRecords", {"records": [changed]}, "errors { code }")
            )
        assert payload["errors"] == [], payload
        self.opted_out.setdefault(address, self.world.clock.now())
        self.settle()

    @rule(minutes=st.sampled_from([1, 11, 45, 130, 600, 24 * 60 + 1]))
    def time_passes(self, minutes: int) -> None:
        self.world.clock.advance(timedelta(minutes=minutes))
        self.settle()

    # --- What must hold ----------------------------------------------------------------------

    def sent(self) -> list[tuple[datetime, dict[str, Any]]]:
        return sorted(
            ((stamp(m["sentAt"]), m) for m in self.outbox() if m["status"] == "SENT"),
            key=lambda pair: pair[0],
        )

    @invariant()
    def sent_inside_the_window_of_its_moment(self) -> None:
        for at, message in self.sent():
            window = [w for since, w in self.windows if since <= at][-1]
            assert in_window(at, self.zones[message["to"]], window), (at, message, window)

    @invariant()
    def never_while_paused_or_after_opting_out(self) -> None:
        for at, message in self.sent():
            for paused, resumed in self.paused.get(message["to"], []):
                assert not (paused < at and (resumed is None or at < resumed)), (at, paused)
            opted = self.opted_out.get(message["to"])
            assert opted is None or at < opted, (at, opted)

    @invariant()
    def within_the_limits_and_the_pace(self) -> None:
        sent = self.sent()
        for i, (at, message) in enumerate(sent):
            same_box = [t for t, m in sent[: i + 1] if m["fromAddress"] == message["fromAddress"]]
            assert sum(t > at - timedelta(days=1) + SLACK for t in same_box) <= DAILY
            assert sum(t > at - timedelta(hours=1) + SLACK for t, _ in sent[: i + 1]) <= HOURLY
            if len(same_box) > 1:
                assert at - same_box[-2] >= INTERVAL - SLACK

    @invariant()
    def every_waiting_message_says_why_and_when(self) -> None:
        now = self.world.clock.now()
        for message in self.outbox():
            if message["status"] != "QUEUED":
                continue
            assert message["waitReason"] is not None, message
            if message["waitReason"] != "CONNECTION_PAUSED":
                assert stamp(message["nextAttemptAt"]) > now, message


def test_sending_keeps_its_invariants(database_url: str, db: Database, smtp_server: Inbox) -> None:
    """`db` migrates the database; the machine runs its own app on its own event loop."""
    world = World(database_url, smtp_server)
    Sending.world = world
    try:
        run_state_machine_as_test(
            Sending,
            settings=settings(
                max_examples=6 * SCALE,
                stateful_step_count=30,
                deadline=None,
                database=None,
                derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        world.close()
