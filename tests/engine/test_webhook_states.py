"""Webhooks explored: random interleavings of endpoints created, given other event types,
disabled, enabled, rotated and deleted; mutations that emit events (connect, pause with and
without a resume time, resume, disconnect, complete or skip a task, deactivate a record,
activate and deactivate a sequence); mutations refused by a rule (acting on an ended
connection, resuming a running one, connecting to an inactive sequence or record) and
mutations whose transaction rolls back after their event was queued; a receiver on loopback
answering 200 or 500 per endpoint; and a moved clock, with the engine (and its delivery
rounds) run after each, through GraphQL. 3 attempts a message; an endpoint is disabled after
2 failed messages in a row.

A model of this test's own says which events each step commits and which endpoints existed,
were enabled and wanted each then. After every step:

1. Each endpoint's delivery log holds exactly one message per committed event of a type it
   wanted while it was enabled, and nothing else (nothing for a refused or rolled-back
   mutation, nothing while disabled, nothing before it existed).
2. Every request the receiver got is a message of the log (same webhook-id, type and data),
   to its endpoint's URL, and its signature verifies with the endpoint's secret of then (and
   with the secret before a rotation exactly during the rotation's overlap).
3. A message's attempts are the requests with its webhook-id, never more than 3; it is
   DELIVERED exactly when one of them was answered 200 (so at most one 2xx per webhook-id),
   FAILED only after its 3rd failed attempt.
4. An endpoint disabled when a delivery round starts gets no request in it; one the
   deliveries disabled has 2 failed messages in a row, and says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import standardwebhooks.webhooks as standard
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sekvens.app import create_app
from sekvens.authoring import sequences as authoring
from sekvens.config import Settings
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.engine import connections as engine_connections
from sekvens.storage import connection_endings, connection_pauses
from sekvens.storage.db import Database
from tests.api.sequences_helpers import simple_active
from tests.conftest import Api, MovableClock, new_org

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
MAX_ATTEMPTS, DISABLE_AFTER = 3, 2
RECORDS, SEQUENCES, ENDPOINTS = 3, 2, 3
RUNNING = ("CONNECTED", "PAUSED")
TYPES = (
    "CONNECTION_STARTED",
    "CONNECTION_PAUSED",
    "CONNECTION_RESUMED",
    "CONNECTION_ENDED",
    "ACTIVITY_CREATED",
    "ACTIVITY_COMPLETED",
    "ACTIVITY_SKIPPED",
    "SEQUENCE_ACTIVATED",
    "SEQUENCE_DEACTIVATED",
    "EMAIL_SENT",
)
LOG = """query($e: ID!, $after: String) { webhookMessages(endpointId: $e, first: 100, after: $after)
 { pageInfo { hasNextPage endCursor } nodes { messageId eventType data status attempts } } }"""
ENDPOINTS_QUERY = (
    "{ webhookEndpoints(first: 50) { nodes { id enabled disabledReason consecutiveFailures } } }"
)


@dataclass
class Request:
    """One request the receiver got, and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    code: int


@dataclass
class Receiver:
    """An HTTP server on loopback that keeps what it gets and answers each path with the
    code set for it (200 when none)."""

    codes: dict[str, int] = field(default_factory=dict)
    got: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            code = self.codes.get(path, 200)
            self.got.append(Request(path, headers, body, code))
            return code


@pytest.fixture(scope="module")
def hooks_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            code = receiver.answer(self.path, headers, body)
            self.send_response(code)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()


class World:
    """The app with webhooks to loopback allowed, on an event loop of the test's own."""

    def __init__(self, database_url: str, receiver: Receiver) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = MovableClock()
        self.receiver = receiver
        settings = Settings(
            database_url=database_url,
            webhooks_allow_private=True,
            webhook_timeout_seconds=5,
            webhook_max_attempts=MAX_ATTEMPTS,
            webhook_disable_after=DISABLE_AFTER,
        )
        self.db = Database(settings)
        self.app = create_app(settings, self.db, clock=self.clock)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://sekvens.test"
        )

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.db.dispose())
        self.loop.close()


def key_of(event_type: str, data: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies an event in the model: its type and the ids (and outcome) it tells."""
    if event_type.startswith("SEQUENCE_"):
        return (event_type, data["sequenceId"], data.get("disconnected"))
    if event_type == "CONNECTION_ENDED":
        return (event_type, data["connectionId"], data["status"], data["reason"])
    return (event_type, data["connectionId"])


def body_type(event_type: str) -> str:
    """CONNECTION_STARTED -> connection.started"""
    return event_type.lower().replace("_", ".", 1)


@dataclass
class Endpoint:
    id: str
    path: str
    types: frozenset[str]
    secret: str
    enabled: bool = True
    #: The secret before the last rotation, and until when (the clock's offset, seconds) it
    #: signs too.
    previous: tuple[str, float] | None = None
    #: The events of the messages it must have.
    expected: Counter[tuple[Any, ...]] = field(default_factory=Counter)

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.types or event_type in self.types)


@dataclass
class Conn:
    id: str
    seq: int
    rec: int
    status: str = "CONNECTED"
    #: The clock's offset (seconds) when a pause with a resume time ends.
    resume_at: float | None = None
    #: Whether the engine ran its step (its task was created).
    started: bool = False


#: Where each mutation queues its event (the module whose `emit` a sabotage replaces).
EMITTERS: dict[str, Any] = {
    "connect": engine_connections,
    "pause": connection_pauses,
    "resume": connection_pauses,
    "disconnect": connection_endings,
    "toggle": authoring,
}


#: An endpoint's event types: none (every type) half the time.
TYPE_LISTS = st.one_of(
    st.just([]), st.lists(st.sampled_from(TYPES), min_size=1, max_size=4, unique=True)
)
CODES = st.sampled_from([200, 200, 500])
SEQS, RECS = st.integers(0, SEQUENCES - 1), st.integers(0, RECORDS - 1)
#: The arguments of each method of the machine a step may call.
ARGUMENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "create_endpoint": st.fixed_dictionaries({"types": TYPE_LISTS, "code": CODES}),
    "change_endpoint": st.fixed_dictionaries(
        {
            "which": st.integers(0, ENDPOINTS - 1),
            "what": st.sampled_from(["types", "toggle", "toggle", "rotate", "delete"]),
            "types": TYPE_LISTS,
            "overlap": st.sampled_from([0, 1]),
        }
    ),
    "answer": st.fixed_dictionaries({"which": st.integers(0, ENDPOINTS - 1), "code": CODES}),
    "connect": st.fixed_dictionaries({"seq": SEQS, "rec": RECS}),
    "on_connection": st.fixed_dictionaries(
        {
            "which": st.integers(0, 20),
            "action": st.sampled_from(
                ["pause", "pause for an hour", "resume", "disconnect", "complete", "skip"]
            ),
        }
    ),
    "toggle_sequence": st.fixed_dictionaries({"seq": SEQS}),
    "toggle_record": st.fixed_dictionaries({"rec": RECS}),
    "sabotaged": st.fixed_dictionaries(
        {"what": st.sampled_from(sorted(EMITTERS)), "seq": SEQS, "rec": RECS}
    ),
    "time_passes": st.fixed_dictionaries({"seconds": st.sampled_from([6, 7 * 60, 3 * 3600])}),
}
WEIGHTS = {
    "create_endpoint": 2,
    "change_endpoint": 2,
    "answer": 2,
    "connect": 3,
    "on_connection": 4,
    "toggle_sequence": 1,
    "toggle_record": 1,
    "sabotaged": 1,
    "time_passes": 3,
}
#: What happens in a step, weighted: a method and its arguments.
ACTIONS = st.sampled_from([n for n, w in WEIGHTS.items() for _ in range(w)]).flatmap(
    lambda name: st.tuples(st.just(name), ARGUMENTS[name])
)


class Webhooks(RuleBasedStateMachine):
    world: World
    patch: pytest.MonkeyPatch

    @initialize(types=TYPE_LISTS, code=CODES)
    def setup(self, types: list[str], code: int) -> None:
        self.api: Api = self.run(new_org(self.world.http, self.world.db))
        self.start_offset = self.world.clock.offset
        self.receiver = self.world.receiver
        self.endpoints: list[Endpoint] = []
        self.conns: list[Conn] = []
        #: webhook-ids of every message seen in a log (deleted endpoints' too)
        self.seen: dict[str, tuple[str, dict[str, Any]]] = {}
        self.checked = len(self.receiver.got)
        #: this organization's requests so far
        self.requests: list[Request] = []
        self.made = 0
        self.run(self._setup())
        self.create_endpoint(types, code)

    def run(self, coro: Any) -> Any:
        return self.world.run(coro)

    async def _setup(self) -> None:
        api = self.api
        self.sequences = [(await simple_active(api, f"S{i}"))["id"] for i in range(SEQUENCES)]
        self.active = [True] * SEQUENCES
        records = [
            {"recordType": "lead", "externalId": f"W{i}", "name": f"Lead W{i}"}
            for i in range(RECORDS)
        ]
        payload = await api.mutate(
            "upsertRecords", {"records": records}, "results { record { id } }"
        )
        self.records = [r["record"]["id"] for r in payload["results"]]
        self.record_active = [True] * RECORDS

    @property
    def now(self) -> float:
        return (self.world.clock.offset - self.start_offset).total_seconds()

    def emitted(self, event_type: str, **data: Any) -> None:
        """An event committed now: every endpoint that wants it must get it once."""
        key = key_of(event_type, data)
        for endpoint in self.endpoints:
            if endpoint.wants(event_type):
                endpoint.expected[key] += 1

    def settle(self) -> None:
        """What the engine does now (resumes at their time, tasks of new connections, ended
        ones after their task), then the delivery rounds."""
        for conn in self.conns:
            if (
                conn.status == "PAUSED"
                and conn.resume_at is not None
                and conn.resume_at <= self.now
            ):
                conn.status, conn.resume_at = "CONNECTED", None
                self.emitted("CONNECTION_RESUMED", connectionId=conn.id)
        for conn in self.conns:
            if conn.status == "CONNECTED" and not conn.started:
                conn.started = True
                self.emitted("ACTIVITY_CREATED", connectionId=conn.id)
        disabled = {e.path for e in self.endpoints if not e.enabled}
        self.run(self.world.app.state.services.engine.run_until_idle())
        self.check_deliveries(disabled)

    def running(self, seq: int, rec: int) -> Conn | None:
        found = [c for c in self.conns if (c.seq, c.rec) == (seq, rec) and c.status in RUNNING]
        return found[0] if found else None

    def end(self, conn: Conn, status: str, reason: str) -> None:
        conn.status, conn.resume_at = status, None
        self.emitted("CONNECTION_ENDED", connectionId=conn.id, status=status, reason=reason)

    # --- Endpoints ---------------------------------------------------------------------------

    def create_endpoint(self, types: list[str], code: int) -> None:
        """A new endpoint, to which the receiver answers `code`."""
        if len(self.endpoints) >= ENDPOINTS:
            return
        self.made += 1
        path = f"/hooks/{self.api.org_id}/{self.made}"
        self.receiver.codes[path] = code
        payload = self.run(
            self.api.mutate(
                "createWebhookEndpoint",
                {"url": f"http://127.0.0.1:{self.receiver.port}{path}", "eventTypes": types},
                "secret endpoint { id eventTypes enabled }",
            )
        )
        assert payload["errors"] == [], payload
        assert sorted(payload["endpoint"]["eventTypes"]) == sorted(types), payload
        self.endpoints.append(
            Endpoint(payload["endpoint"]["id"], path, frozenset(types), payload["secret"])
        )

    def change_endpoint(self, which: int, what: str, types: list[str], overlap: int) -> None:
        """Its event types replaced, enabled, disabled, its secret rotated, or deleted."""
        if not self.endpoints:
            return
        endpoint = self.endpoints[which % len(self.endpoints)]
        if what == "types":
            payload = self.run(
                self.api.mutate(
                    "updateWebhookEndpoint",
                    {"id": endpoint.id, "eventTypes": types},
                    "endpoint { eventTypes }",
                )
            )
            endpoint.types = frozenset(types)
        elif what == "toggle":
            payload = self.run(
                self.api.mutate(
                    "enableWebhookEndpoint",
                    {"id": endpoint.id, "enabled": not endpoint.enabled},
                    "endpoint { enabled disabledReason consecutiveFailures }",
                )
            )
            endpoint.enabled = not endpoint.enabled
            assert payload["endpoint"]["enabled"] is endpoint.enabled, payload
            assert payload["endpoint"]["consecutiveFailures"] == 0, payload
        elif what == "rotate":
            payload = self.run(
                self.api.mutate(
                    "rotateWebhookEndpointSecret",
                    {"id": endpoint.id, "overlapHours": overlap},
                    "secret",
                )
            )
            endpoint.previous = (endpoint.secret, self.now + 3600 * overlap)
            endpoint.secret = payload["secret"]
        else:
            payload = self.run(
                self.api.mutate("deleteWebhookEndpoint", {"id": endpoint.id}, "deletedId")
            )
            self.endpoints.remove(endpoint)
        assert payload["errors"] == [], payload
        self.settle()

    def answer(self, which: int, code: int) -> None:
        """The receiver answers an endpoint's requests with `code` from now on."""
        if self.endpoints:
            self.receiver.codes[self.endpoints[which % len(self.endpoints)].path] = code

    # --- Mutations that tell of themselves ---------------------------------------------------

    def connect(self, seq: int, rec: int) -> None:
        payload = self.run(
            self.api.mutate(
                "connectSequence",
                {"sequenceId": self.sequences[seq], "records": [{"id": self.records[rec]}]},
                "results { connection { id } errors { code } }",
            )
        )
        codes = [e["code"] for e in payload["errors"]] + [
            e["code"] for r in payload["results"] for e in r["errors"]
        ]
        if not self.active[seq]:
            assert codes == ["SEQUENCE_INACTIVE"], payload
        elif not self.record_active[rec]:
            assert codes == ["RECORD_INACTIVE"], payload
        elif self.running(seq, rec) is not None:
            assert codes == ["ALREADY_CONNECTED"], payload
        else:
            assert codes == [], payload
            conn = Conn(payload["results"][0]["connection"]["id"], seq, rec)
            self.conns.append(conn)
            self.emitted("CONNECTION_STARTED", connectionId=conn.id)
        self.settle()

    def on_connection(self, which: int, action: str) -> None:
        """Pause (for an hour or until resumed), resume, disconnect, complete or skip the
        task of one of the connections, running or not: what its state refuses sends
        nothing."""
        if not self.conns:
            return
        conn = self.conns[which % len(self.conns)]
        if action in ("complete", "skip"):
            self.work(conn, action)
            return
        given: dict[str, Any] = {"connectionId": conn.id}
        if action == "pause for an hour":
            given["resumeAt"] = (self.world.clock.now() + timedelta(hours=1)).isoformat()
        name = {"resume": "resumeConnection", "disconnect": "disconnectSequence"}.get(
            action, "pauseConnection"
        )
        payload = self.run(self.api.mutate(name, given, "connection { status }"))
        wanted = {"resume": ("PAUSED",), "disconnect": RUNNING}.get(action, ("CONNECTED",))
        if conn.status not in wanted:
            codes = {e["code"] for e in payload["errors"]}
            assert codes and codes <= {"CONNECTION_ENDED", "INVALID_VALUE", "INVALID_STATE"}, (
                action,
                conn,
                payload,
            )
        else:
            assert payload["errors"] == [], payload
            if action == "resume":
                conn.status, conn.resume_at = "CONNECTED", None
                self.emitted("CONNECTION_RESUMED", connectionId=conn.id)
            elif action == "disconnect":
                self.end(conn, "DISCONNECTED", "USER_DISCONNECTED")
            else:
                conn.status = "PAUSED"
                conn.resume_at = self.now + 3600 if "hour" in action else None
                self.emitted("CONNECTION_PAUSED", connectionId=conn.id)
        self.settle()

    def work(self, conn: Conn, action: str) -> None:
        if conn.status != "CONNECTED":
            return
        node = self.run(
            self.api.ok(
                "query($id: ID!) { node(id: $id) { ... on SequenceTarget { activities"
                " { id status } } } }",
                {"id": conn.id},
            )
        )
        [task] = [a["id"] for a in node["node"]["activities"] if a["status"] == "OPEN"]
        extra = {"outcome": "Done"} if action == "complete" else {}
        payload = self.run(
            self.api.mutate(
                f"{action}Activity", {"activityId": task, **extra}, "activity { status }"
            )
        )
        assert payload["errors"] == [], payload
        kind = "ACTIVITY_COMPLETED" if action == "complete" else "ACTIVITY_SKIPPED"
        self.emitted(kind, connectionId=conn.id)
        self.end(conn, "COMPLETED", "SEQUENCE_COMPLETED")
        self.settle()

    def toggle_record(self, rec: int) -> None:
        """A record deactivated (its running connections end) or activated again."""
        self.record_active[rec] = not self.record_active[rec]
        item = {"recordType": "lead", "externalId": f"W{rec}", "isActive": self.record_active[rec]}
        payload = self.run(self.api.mutate("upsertRecords", {"records": [item]}, "__typename"))
        assert payload["errors"] == [], payload
        if not self.record_active[rec]:
            for conn in self.conns:
                if conn.rec == rec and conn.status in RUNNING:
                    self.end(conn, "DISCONNECTED", "RECORD_DEACTIVATED")
        self.settle()

    def toggle_sequence(self, seq: int) -> None:
        name = "deactivateSequence" if self.active[seq] else "activateSequence"
        payload = self.run(self.api.mutate(name, {"sequenceId": self.sequences[seq]}, "__typename"))
        assert payload["errors"] == [], payload
        self.active[seq] = not self.active[seq]
        if self.active[seq]:
            self.emitted("SEQUENCE_ACTIVATED", sequenceId=self.sequences[seq], disconnected=None)
        else:
            running = [c for c in self.conns if c.seq == seq and c.status in RUNNING]
            for conn in running:
                self.end(conn, "DISCONNECTED", "PARENT_SEQUENCE_DEACTIVATED")
            self.emitted(
                "SEQUENCE_DEACTIVATED", sequenceId=self.sequences[seq], disconnected=len(running)
            )
        self.settle()

    def sabotaged(self, what: str, seq: int, rec: int) -> None:
        """The mutation queues its event, then fails: it rolls back, and sends nothing."""
        module = EMITTERS[what]
        real = module.emit

        async def emit_then_fail(*args: Any, **kwargs: Any) -> int:
            await real(*args, **kwargs)
            raise DomainError.of(ErrorCode.INVALID_VALUE, "refused after the event was queued")

        conn = self.running(seq, rec)
        if what == "toggle":
            name, given = (
                "deactivateSequence" if self.active[seq] else "activateSequence",
                {"sequenceId": self.sequences[seq]},
            )
        elif what == "connect":
            if not self.active[seq] or not self.record_active[rec] or conn is not None:
                return
            name = "connectSequence"
            given = {"sequenceId": self.sequences[seq], "records": [{"id": self.records[rec]}]}
        else:
            wanted = {"resume": ("PAUSED",), "disconnect": RUNNING}.get(what, ("CONNECTED",))
            if conn is None or conn.status not in wanted:
                return
            name = {
                "pause": "pauseConnection",
                "resume": "resumeConnection",
                "disconnect": "disconnectSequence",
            }[what]
            given = {"connectionId": conn.id}
        self.patch.setattr(module, "emit", emit_then_fail)
        try:
            payload = self.run(
                self.api.mutate(
                    name,
                    given,
                    "__typename" if what != "connect" else "results { errors { code } }",
                )
            )
        finally:
            self.patch.setattr(module, "emit", real)
        codes = [e["code"] for e in payload["errors"]] + [
            e["code"] for r in payload.get("results", []) for e in r["errors"]
        ]
        assert codes == ["INVALID_VALUE"], payload
        self.settle()

    def time_passes(self, seconds: int) -> None:
        self.world.clock.advance(timedelta(seconds=seconds))
        self.settle()

    @rule(action=ACTIONS)
    def happens(self, action: tuple[str, dict[str, Any]]) -> None:
        """One of the methods above: a single rule, so that every example mixes them (as
        rules of their own, Hypothesis' swarm testing would turn some off per example)."""
        name, args = action
        getattr(self, name)(**args)

    # --- What must hold ----------------------------------------------------------------------

    def log(self, endpoint: Endpoint) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            data = self.run(self.api.ok(LOG, {"e": endpoint.id, "after": after}))
            page = data["webhookMessages"]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return nodes
            after = page["pageInfo"]["endCursor"]

    def check_deliveries(self, disabled: set[str]) -> None:
        """Invariants 2 and 4 (the first part) for the requests of this delivery round,
        checked now, while their signatures' timestamps are fresh."""
        paths = {e.path: e for e in self.endpoints}
        with self.receiver.lock:
            new = self.receiver.got[self.checked :]
            self.checked = len(self.receiver.got)
        for request in new:
            endpoint = paths.get(request.path)
            if endpoint is None:  # another test's, or a deleted endpoint's
                assert not request.path.startswith(f"/hooks/{self.api.org_id}/"), request
                continue
            assert request.path not in disabled, f"a disabled endpoint got {request}"
            event = Webhook(endpoint.secret).verify(request.body, request.headers)
            assert event["type"] in {body_type(t) for t in TYPES}, event
            if endpoint.previous is not None:  # the old secret signs during the overlap only
                old, until = endpoint.previous
                if self.now < until - 60 or self.now > until + 60 or until == self.now:
                    try:
                        Webhook(old).verify(request.body, request.headers)
                        signed = True
                    except WebhookVerificationError:
                        signed = False
                    assert signed is (self.now < until), (self.now, until, request)
        self.requests += [r for r in new if r.path in paths]

    @invariant()
    def every_message_is_one_committed_event_and_delivered_once(self) -> None:
        if not hasattr(self, "api"):
            return
        states = {
            e["id"]: e for e in self.run(self.api.ok(ENDPOINTS_QUERY))["webhookEndpoints"]["nodes"]
        }
        assert set(states) == {e.id for e in self.endpoints}, states
        for endpoint in self.endpoints:
            log = self.log(endpoint)
            for m in log:
                self.seen[m["messageId"]] = (m["eventType"], m["data"])
            state = states[endpoint.id]
            if endpoint.enabled and not state["enabled"]:  # the deliveries disabled it
                failed = [m for m in log if m["status"] == "FAILED"]
                assert len(failed) >= DISABLE_AFTER, (state, log)
                assert state["consecutiveFailures"] >= DISABLE_AFTER, state
                assert "in a row failed every attempt" in state["disabledReason"], state
                endpoint.enabled = False
            assert state["enabled"] is endpoint.enabled, (state, endpoint)
            if endpoint.enabled:
                assert state["consecutiveFailures"] < DISABLE_AFTER, state
            # 1. one message per event it wanted, and nothing else
            got = Counter(key_of(m["eventType"], m["data"]) for m in log)
            assert got == endpoint.expected, (
                f"missing {endpoint.expected - got}, not committed {got - endpoint.expected}"
            )
            # 3. attempts are the requests, one 2xx at most, then DELIVERED
            requests = [r for r in self.requests if r.path == endpoint.path]
            for m in log:
                tried = [r for r in requests if r.headers["webhook-id"] == m["messageId"]]
                ok = [r for r in tried if 200 <= r.code < 300]
                assert m["attempts"] == len(tried) <= MAX_ATTEMPTS, (m, tried)
                assert len(ok) <= 1, m
                assert (m["status"] == "DELIVERED") == (len(ok) == 1), (m, tried)
                if m["status"] == "FAILED":
                    assert m["attempts"] == MAX_ATTEMPTS, m
        # 2. every request is a message of the log, as it is there
        for request in self.requests:
            message_id = request.headers["webhook-id"]
            assert message_id in self.seen, request
            event_type, data = self.seen[message_id]
            body = json.loads(request.body)
            assert (body["type"], body["data"]) == (body_type(event_type), data), body

    def teardown(self) -> None:
        """Delete the endpoints, and their messages: no later test gets them."""
        if hasattr(self, "api"):
            for endpoint in self.endpoints:
                self.run(self.api.mutate("deleteWebhookEndpoint", {"id": endpoint.id}, "deletedId"))


def test_webhooks_keep_their_invariants(
    database_url: str, db: Database, hooks_receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`db` migrates the database; the machine runs its own app on its own event loop."""
    world = World(database_url, hooks_receiver)

    class Now(datetime):
        """standardwebhooks checks a timestamp against its now: the moved clock's."""

        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return world.clock.now()

    monkeypatch.setattr(standard, "datetime", Now)
    Webhooks.world, Webhooks.patch = world, monkeypatch
    try:
        run_state_machine_as_test(
            Webhooks,
            settings=settings(
                max_examples=16 * SCALE,
                stateful_step_count=40,
                deadline=None,
                database=None,
                derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        world.close()


async def events_of_a_moved_clock(world: World) -> dict[str, list[datetime]]:
    """With the clock moved 3 days ahead: a sequence activated, a record connected, paused,
    resumed and disconnected, the sequence deactivated (the engine not run); each message's
    `occurredAt` by type, and the clock's time before the first change ("since")."""
    api = await new_org(world.http, world.db)
    url = f"http://127.0.0.1:{world.receiver.port}/hooks/{api.org_id}/dated"
    made = await api.mutate("createWebhookEndpoint", {"url": url}, "endpoint { id }")
    endpoint = made["endpoint"]["id"]
    seq = (await simple_active(api, "Dated", activate=False))["id"]
    world.clock.advance(timedelta(days=3))
    since = world.clock.now()
    payload = await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "D1", "name": "D1"}]},
        "results { record { id } }",
    )
    record = payload["results"][0]["record"]["id"]
    await api.mutate("activateSequence", {"sequenceId": seq}, "__typename")
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq, "records": [{"id": record}]},
        "results { connection { id } }",
    )
    conn = {"connectionId": connected["results"][0]["connection"]["id"]}
    for name in ("pauseConnection", "resumeConnection", "disconnectSequence"):
        assert (await api.mutate(name, conn, "__typename"))["errors"] == []
    await api.mutate("deactivateSequence", {"sequenceId": seq}, "__typename")
    data = await api.ok(LOG.replace("attempts }", "attempts occurredAt }"), {"e": endpoint})
    await api.mutate("deleteWebhookEndpoint", {"id": endpoint}, "deletedId")
    dated: dict[str, list[datetime]] = {"since": [since]}
    for m in data["webhookMessages"]["nodes"]:
        dated.setdefault(m["eventType"], []).append(datetime.fromisoformat(m["occurredAt"]))
    return dated


def test_every_event_is_dated_on_the_engine_clock(
    database_url: str, db: Database, hooks_receiver: Receiver
) -> None:
    world = World(database_url, hooks_receiver)
    try:
        dated = world.run(events_of_a_moved_clock(world))
    finally:
        world.close()
    [since] = dated.pop("since")
    assert set(dated) == {
        "SEQUENCE_ACTIVATED",
        "CONNECTION_STARTED",
        "CONNECTION_PAUSED",
        "CONNECTION_RESUMED",
        "CONNECTION_ENDED",
        "SEQUENCE_DEACTIVATED",
    }, dated
    early = {t for t, times in dated.items() if min(times) < since}
    assert early == set(), {t: dated[t] for t in early}
