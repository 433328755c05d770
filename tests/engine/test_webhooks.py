"""Signed webhooks (docs/webhooks.md), through GraphQL and a real HTTP receiver on loopback
that verifies every signature with the `standardwebhooks` library, as a partner would."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import standardwebhooks.webhooks as standard
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sekvens.app import create_app
from sekvens.authoring import sequences as authoring
from sekvens.config import Settings
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.engine.webhooks import WebhookDeliverer
from sekvens.storage.db import Database
from tests.api.sequences_helpers import simple_active
from tests.conftest import Api, MovableClock, new_org
from tests.engine.conftest import Inbox
from tests.engine.helpers import connect_leads, email_then_task

ENDPOINT = (
    "endpoint { id url description eventTypes enabled disabledReason consecutiveFailures"
    " previousSecretExpiresAt }"
)
MESSAGES = """query($e: ID!) { webhookMessages(endpointId: $e, first: 100) { totalCount nodes {
  id messageId eventType data status attempts responseCode latencyMs lastError deliveredAt
  nextAttemptAt } } }"""


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


@dataclass
class Receiver:
    """What the loopback endpoint got; it answers with the next of `answers` (then 200)."""

    port: int = 0
    answers: list[int] = field(default_factory=list)
    always: int | None = None
    #: Seconds to wait before answering.
    delay: float = 0
    got: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def answer(self, delivery: Delivery) -> int:
        with self.lock:
            self.got.append(delivery)
            if self.always is not None:
                return self.always
            return self.answers.pop(0) if self.answers else 200

    def reset(self) -> None:
        with self.lock:
            self.answers, self.always, self.delay, self.got = [], None, 0, []


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            delivery = Delivery(
                {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
            )
            code = receiver.answer(delivery)
            time.sleep(receiver.delay)
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


@pytest.fixture
def receiver(receiver_server: Receiver) -> Iterator[Receiver]:
    receiver_server.reset()
    yield receiver_server
    receiver_server.reset()


@pytest.fixture(scope="session")
async def hook_app(db: Database, clock: MovableClock, smtp_server: Inbox) -> Any:
    settings = Settings(
        database_url=db.settings.database_url,
        smtp_url=f"smtp://127.0.0.1:{smtp_server.port}?starttls=off",
        mail_from="robot@sekvens.test",
        mailbox_send_interval_seconds=0,
        webhooks_allow_private=True,
        webhook_timeout_seconds=5,
        webhook_max_attempts=3,
        webhook_disable_after=2,
    )
    return create_app(settings, db, clock=clock)


@pytest.fixture(scope="session")
async def hook_http(hook_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hook_app), base_url="http://sekvens.test"
    ) as client:
        yield client


@pytest.fixture
async def hook_api(hook_http: httpx.AsyncClient, db: Database) -> Api:
    return await new_org(hook_http, db)


@pytest.fixture
def hook_engine(hook_app: Any) -> Any:
    return hook_app.state.services.engine


@pytest.fixture(autouse=True)
def receiver_clock(clock: MovableClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver's clock is the moved one: `standardwebhooks` checks the timestamp
    against its now (5 minutes' tolerance)."""

    class Now(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return clock.now()

    monkeypatch.setattr(standard, "datetime", Now)


async def create_endpoint(api: Api, url: str, **extra: Any) -> tuple[dict[str, Any], str]:
    payload = await api.mutate("createWebhookEndpoint", {"url": url, **extra}, f"secret {ENDPOINT}")
    assert payload["errors"] == [], payload["errors"]
    return payload["endpoint"], payload["secret"]


async def messages(api: Api, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    data = await api.ok(MESSAGES, {"e": endpoint["id"]})
    return list(reversed(data["webhookMessages"]["nodes"]))  # oldest first


async def deactivate(api: Api, seq: dict[str, Any]) -> dict[str, Any]:
    return await api.mutate("deactivateSequence", {"sequenceId": seq["id"]}, "sequence { id }")


def verified(delivery: Delivery, secret: str) -> dict[str, Any]:
    doc: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    return doc


async def test_events_arrive_signed_and_in_the_delivery_log(
    hook_api: Api, hook_engine: Any, receiver: Receiver
) -> None:
    endpoint, secret = await create_endpoint(
        hook_api,
        receiver.url,
        description="CRM",
        eventTypes=["SEQUENCE_ACTIVATED", "SEQUENCE_DEACTIVATED"],
    )
    assert secret.startswith("whsec_") and len(Webhook(secret)._whsecret) >= 24
    assert endpoint["eventTypes"] == ["SEQUENCE_ACTIVATED", "SEQUENCE_DEACTIVATED"]
    assert endpoint["enabled"] and endpoint["disabledReason"] is None
    listed = await hook_api.ok("{ webhookEndpoints { nodes { id url description } } }")
    assert listed["webhookEndpoints"]["nodes"] == [
        {"id": endpoint["id"], "url": receiver.url, "description": "CRM"}
    ]

    seq = await simple_active(hook_api)
    assert (await deactivate(hook_api, seq))["errors"] == []
    await hook_engine.run_until_idle()

    assert len(receiver.got) == 2
    events = [verified(d, secret) for d in receiver.got]
    assert [e["type"] for e in events] == ["sequence.activated", "sequence.deactivated"]
    assert events[0]["data"]["sequenceId"] == seq["id"]
    assert events[1]["data"] == {"sequenceId": seq["id"], "name": "Simple", "disconnected": 0}
    log = await messages(hook_api, endpoint)
    assert [m["status"] for m in log] == ["DELIVERED", "DELIVERED"]
    assert [m["messageId"] for m in log] == [d.headers["webhook-id"] for d in receiver.got]
    assert all(m["messageId"].startswith("msg_") for m in log)
    assert all(m["attempts"] == 1 and m["responseCode"] == 200 for m in log)
    assert all(m["latencyMs"] is not None and m["deliveredAt"] for m in log)
    # A signature made with another secret, or over another body, does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(receiver.got[0].body, receiver.got[0].headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(receiver.got[0].body + b" ", receiver.got[0].headers)


async def test_a_connection_ended_by_a_user_is_told_with_its_reason(
    hook_api: Api, hook_engine: Any, receiver: Receiver
) -> None:
    _, secret = await create_endpoint(hook_api, receiver.url, eventTypes=["CONNECTION_ENDED"])
    seq = await simple_active(hook_api)
    upserted = await hook_api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "W1", "name": "Lead W1"}]},
        "results { record { id } }",
    )
    record_id = upserted["results"][0]["record"]["id"]
    connected = await hook_api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": record_id}]},
        "results { connection { id } errors { code } }",
    )
    target = connected["results"][0]["connection"]["id"]
    disconnected = await hook_api.mutate(
        "disconnectSequence", {"connectionId": target}, "connection { status }"
    )
    assert disconnected["errors"] == []
    await hook_engine.run_until_idle()
    [event] = [verified(d, secret) for d in receiver.got]
    assert event["type"] == "connection.ended"
    data = event["data"]
    assert data["connectionId"] == target and data["recordId"] == record_id
    assert data["status"] == "DISCONNECTED" and data["reason"] == "USER_DISCONNECTED"


async def test_a_rolled_back_mutation_sends_nothing(
    hook_api: Api, hook_engine: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, _ = await create_endpoint(hook_api, receiver.url)
    seq = await simple_active(hook_api, activate=False)
    real_emit = authoring.emit

    async def emit_then_fail(*args: Any, **kwargs: Any) -> int:
        await real_emit(*args, **kwargs)  # queued in the mutation's transaction...
        raise DomainError.of(ErrorCode.INVALID_VALUE, "refused after the event was queued")

    monkeypatch.setattr(authoring, "emit", emit_then_fail)
    payload = await hook_api.mutate(
        "activateSequence", {"sequenceId": seq["id"]}, "sequence { status }"
    )
    assert [e["code"] for e in payload["errors"]] == ["INVALID_VALUE"]
    monkeypatch.undo()
    await hook_engine.run_until_idle()
    assert receiver.got == []
    assert await messages(hook_api, endpoint) == []
    status = await hook_api.ok(
        "query($id: ID!) { node(id: $id) { ... on Sequence { status } } }", {"id": seq["id"]}
    )
    assert status["node"]["status"] == "INACTIVE"


async def test_a_receiver_answering_500_gets_the_event_on_a_retry(
    hook_api: Api, hook_engine: Any, receiver: Receiver, clock: MovableClock
) -> None:
    endpoint, secret = await create_endpoint(hook_api, receiver.url)
    receiver.answers = [500]
    await simple_active(hook_api)
    await hook_engine.run_until_idle()
    [first] = await messages(hook_api, endpoint)
    assert first["status"] == "PENDING" and first["attempts"] == 1
    assert first["responseCode"] == 500 and first["lastError"].startswith("HTTP 500")
    clock.advance(timedelta(seconds=4))  # the first retry comes after 5 seconds
    await hook_engine.run_until_idle()
    assert len(receiver.got) == 1
    clock.advance(timedelta(seconds=2))
    await hook_engine.run_until_idle()
    [again] = await messages(hook_api, endpoint)
    assert again["status"] == "DELIVERED" and again["attempts"] == 2
    assert again["responseCode"] == 200 and again["lastError"] is None
    assert len(receiver.got) == 2
    assert receiver.got[0].headers["webhook-id"] == receiver.got[1].headers["webhook-id"]
    assert receiver.got[0].body == receiver.got[1].body
    assert all(verified(d, secret)["type"] == "sequence.activated" for d in receiver.got)


async def test_a_receiver_that_keeps_failing_is_disabled_with_the_reason(
    hook_api: Api, hook_engine: Any, receiver: Receiver, clock: MovableClock
) -> None:
    """With 3 attempts a message and disabling after 2 failed messages in a row."""
    endpoint, secret = await create_endpoint(hook_api, receiver.url)
    receiver.always = 503
    seq = await simple_active(hook_api)
    await deactivate(hook_api, seq)
    for wait in (timedelta(0), timedelta(seconds=6), timedelta(minutes=6)):
        clock.advance(wait)
        await hook_engine.run_until_idle()
    log = await messages(hook_api, endpoint)
    assert [(m["status"], m["attempts"]) for m in log] == [("FAILED", 3), ("FAILED", 3)]
    assert len(receiver.got) == 6
    listed = await hook_api.ok(f"{{ webhookEndpoints {{ nodes {{ {ENDPOINT[11:-2]} }} }} }}")
    [state] = listed["webhookEndpoints"]["nodes"]
    assert state["enabled"] is False and state["consecutiveFailures"] == 2
    assert "2 messages in a row failed" in state["disabledReason"]
    assert "HTTP 503" in state["disabledReason"]
    # A disabled endpoint gets no new messages.
    await simple_active(hook_api, "Another")
    await hook_engine.run_until_idle()
    assert len(await messages(hook_api, endpoint)) == 2 and len(receiver.got) == 6

    # Enabled again, a failed message sent again by hand arrives, with the same id.
    receiver.always = None
    enabled = await hook_api.mutate("enableWebhookEndpoint", {"id": endpoint["id"]}, ENDPOINT)
    assert enabled["endpoint"]["enabled"] and enabled["endpoint"]["disabledReason"] is None
    redelivered = await hook_api.mutate(
        "redeliverWebhookMessage", {"id": log[0]["id"]}, "message { status attempts }"
    )
    assert redelivered["message"] == {"status": "PENDING", "attempts": 0}
    await hook_engine.run_until_idle()
    assert receiver.got[-1].headers["webhook-id"] == log[0]["messageId"]
    assert verified(receiver.got[-1], secret)["type"] == "sequence.activated"
    again = await messages(hook_api, endpoint)
    assert again[0]["status"] == "DELIVERED"
    pending = await hook_api.mutate(
        "redeliverWebhookMessage", {"id": log[0]["id"]}, "message { status }"
    )
    assert pending["errors"] == []
    refused = await hook_api.mutate(
        "redeliverWebhookMessage", {"id": log[0]["id"]}, "message { status }"
    )
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_VALUE", ["id"])]
    await hook_engine.run_until_idle()
    assert receiver.got[-1].headers["webhook-id"] == log[0]["messageId"]


async def test_during_a_rotation_either_secret_verifies(
    hook_api: Api, hook_engine: Any, receiver: Receiver, clock: MovableClock
) -> None:
    endpoint, old = await create_endpoint(hook_api, receiver.url)
    rotated = await hook_api.mutate(
        "rotateWebhookEndpointSecret",
        {"id": endpoint["id"], "overlapHours": 1},
        f"secret {ENDPOINT}",
    )
    new = rotated["secret"]
    assert new != old and rotated["endpoint"]["previousSecretExpiresAt"] is not None
    seq = await simple_active(hook_api)
    await hook_engine.run_until_idle()
    [during] = receiver.got
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verified(during, old)["type"] == verified(during, new)["type"] == "sequence.activated"

    clock.advance(timedelta(hours=1, minutes=1))
    await deactivate(hook_api, seq)
    await hook_engine.run_until_idle()
    after = receiver.got[-1]
    assert verified(after, new)["type"] == "sequence.deactivated"
    with pytest.raises(WebhookVerificationError):
        verified(after, old)
    bad = await hook_api.mutate(
        "rotateWebhookEndpointSecret", {"id": endpoint["id"], "overlapHours": 200}, "secret"
    )
    assert [(e["code"], e["field"]) for e in bad["errors"]] == [("INVALID_VALUE", ["overlapHours"])]


async def test_only_administrators_manage_webhooks(hook_api: Api, receiver: Receiver) -> None:
    endpoint, _ = await create_endpoint(hook_api, receiver.url)
    _, token = await hook_api.user(["SEQUENCE_MANAGER", "SALES_MANAGER"])
    manager = hook_api.as_token(token)
    payload = await manager.mutate("createWebhookEndpoint", {"url": receiver.url}, "secret")
    assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"] and payload["secret"] is None
    for name, input in (
        ("updateWebhookEndpoint", {"id": endpoint["id"], "description": "mine"}),
        ("rotateWebhookEndpointSecret", {"id": endpoint["id"]}),
        ("enableWebhookEndpoint", {"id": endpoint["id"], "enabled": False}),
        ("deleteWebhookEndpoint", {"id": endpoint["id"]}),
    ):
        refused = await manager.mutate(name, input, "__typename")
        assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"], name
    body = await manager.gql("{ webhookEndpoints { nodes { id } } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await manager.gql(MESSAGES, {"e": endpoint["id"]})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Another organization's administrator doesn't see it either.
    other = await new_org(hook_api.http, hook_api.db)
    body = await other.gql(MESSAGES, {"e": endpoint["id"]})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    gone = await other.mutate("deleteWebhookEndpoint", {"id": endpoint["id"]}, "deletedId")
    assert [e["code"] for e in gone["errors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:10.0.0.1]/hooks",
    ],
)
async def test_private_urls_are_refused_without_the_setting(api: Api, url: str) -> None:
    payload = await api.mutate("createWebhookEndpoint", {"url": url}, "secret endpoint { id }")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_VALUE", ["url"])]
    assert payload["endpoint"] is None and payload["secret"] is None


async def test_endpoint_inputs_are_checked(hook_api: Api, receiver: Receiver) -> None:
    for url in ("ftp://example.com/x", "example.com/hooks", "http://user:pw@example.com/"):
        payload = await hook_api.mutate("createWebhookEndpoint", {"url": url}, "secret")
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_VALUE", ["url"])]
    long = await hook_api.mutate(
        "createWebhookEndpoint", {"url": receiver.url, "description": "x" * 401}, "secret"
    )
    assert [(e["code"], e["field"]) for e in long["errors"]] == [("TOO_LONG", ["description"])]
    body = await hook_api.gql(
        'mutation { createWebhookEndpoint(input: {url: "https://example.com",'
        " eventTypes: [EMAIL_TELEPORTED]}) { secret } }"
    )
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    listed = await hook_api.ok("{ webhookEndpoints { totalCount } }")
    assert listed["webhookEndpoints"]["totalCount"] == 0
    endpoint, _ = await create_endpoint(hook_api, receiver.url, eventTypes=["EMAIL_SENT"])
    changed = await hook_api.mutate(
        "updateWebhookEndpoint",
        {"id": endpoint["id"], "eventTypes": ["EMAIL_OPENED", "EMAIL_OPENED"], "description": "B"},
        ENDPOINT,
    )
    assert changed["endpoint"]["eventTypes"] == ["EMAIL_OPENED"]
    assert changed["endpoint"]["description"] == "B" and changed["endpoint"]["url"] == receiver.url
    deleted = await hook_api.mutate("deleteWebhookEndpoint", {"id": endpoint["id"]}, "deletedId")
    assert deleted["deletedId"] == endpoint["id"]
    listed = await hook_api.ok("{ webhookEndpoints { totalCount } }")
    assert listed["webhookEndpoints"]["totalCount"] == 0


async def test_several_workers_deliver_each_message_once(
    hook_api: Api, hook_engine: Any, receiver: Receiver
) -> None:
    endpoint, secret = await create_endpoint(hook_api, receiver.url)
    for i in range(6):
        seq = await simple_active(hook_api, f"S{i}")
        await deactivate(hook_api, seq)
    source: WebhookDeliverer = hook_engine.webhooks
    workers = [
        WebhookDeliverer(source.db, source.clock, allow_private=True, batch_size=3)
        for _ in range(4)
    ]

    async def drain(worker: WebhookDeliverer) -> None:
        while await worker.run_due():
            pass

    await asyncio.gather(*(drain(w) for w in workers))
    ids = [d.headers["webhook-id"] for d in receiver.got]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert all(verified(d, secret) for d in receiver.got)
    log = await messages(hook_api, endpoint)
    assert {m["status"] for m in log} == {"DELIVERED"} and {m["attempts"] for m in log} == {1}


async def test_email_sent_and_engagement_events_are_told(
    hook_api: Api, hook_engine: Any, receiver: Receiver, inbox: Inbox
) -> None:
    kinds = ["EMAIL_SENT", "EMAIL_DELIVERED", "EMAIL_OPENED", "EMAIL_CLICKED", "EMAIL_REPLIED"]
    _, secret = await create_endpoint(hook_api, receiver.url, eventTypes=kinds)
    seq = await email_then_task(hook_api)
    [address] = await connect_leads(hook_api, seq)
    await hook_engine.run_until_idle()
    [mail] = inbox.to(address)
    [sent] = [verified(d, secret) for d in receiver.got]
    assert sent["type"] == "email.sent"
    assert sent["data"]["to"] == address and sent["data"]["messageId"] == mail["Message-ID"]
    assert sent["data"]["connectionId"] is not None

    events = [
        {
            "eventId": f"e-{kind}",
            "kind": kind,
            "messageId": mail["Message-ID"],
            "occurredAt": "2026-01-05T10:00:00Z",
        }
        for kind in (
            "EMAIL_DELIVERED",
            "EMAIL_OPENED",
            "LINK_CLICKED",
            "ATTACHMENT_DOWNLOADED",
            "EMAIL_REPLIED",
        )
    ]
    recorded = await hook_api.mutate(
        "recordEngagementEvents", {"events": events}, "results { recorded }"
    )
    assert all(r["recorded"] for r in recorded["results"])
    await hook_engine.run_until_idle()
    told = [verified(d, secret) for d in receiver.got[1:]]
    assert [e["type"] for e in told] == [
        "email.delivered",
        "email.opened",
        "email.clicked",
        "email.replied",
    ]
    assert {e["data"]["messageId"] for e in told} == {mail["Message-ID"]}
    assert told[2]["data"]["eventId"] == "e-LINK_CLICKED"
    assert told[2]["data"]["connectionId"] == sent["data"]["connectionId"]


async def connect(api: Api, seq: dict[str, Any], external_ids: list[str]) -> list[str]:
    """Connect new leads (owned by the administrator); their connections' ids."""
    records = [{"recordType": "lead", "externalId": e, "name": e} for e in external_ids]
    upserted = await api.mutate("upsertRecords", {"records": records}, "results { record { id } }")
    ids = [{"id": r["record"]["id"]} for r in upserted["results"]]
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": ids},
        "results { connection { id } errors { code } }",
    )
    return [r["connection"]["id"] for r in connected["results"]]


async def test_connections_and_activities_are_told(
    hook_api: Api, hook_engine: Any, receiver: Receiver
) -> None:
    types = ["CONNECTION_STARTED", "ACTIVITY_CREATED", "ACTIVITY_COMPLETED", "ACTIVITY_SKIPPED"]
    _, secret = await create_endpoint(hook_api, receiver.url, eventTypes=types)
    seq = await simple_active(hook_api)
    first, second = await connect(hook_api, seq, ["A1", "A2"])
    await hook_engine.run_until_idle()
    told = [verified(d, secret) for d in receiver.got]
    assert [e["type"] for e in told] == ["connection.started"] * 2 + ["activity.created"] * 2
    assert [e["data"]["connectionId"] for e in told[:2]] == [first, second]
    created = {e["data"]["connectionId"]: e["data"] for e in told[2:]}
    assert created[first]["subject"] == "Book a meeting" and created[first]["status"] == "OPEN"
    assert created[first]["kind"] == "TASK" and len(created[first]["assigneeIds"]) == 1

    done = await hook_api.mutate(
        "completeActivity",
        {"activityId": created[first]["activityId"], "notes": "booked"},
        "__typename",
    )
    skipped = await hook_api.mutate(
        "skipActivity", {"activityId": created[second]["activityId"]}, "__typename"
    )
    assert done["errors"] == skipped["errors"] == []
    await hook_engine.run_until_idle()
    closed = [verified(d, secret) for d in receiver.got[4:]]
    assert [(e["type"], e["data"]["connectionId"]) for e in closed] == [
        ("activity.completed", first),
        ("activity.skipped", second),
    ]
    assert closed[0]["data"]["status"] == "COMPLETED" and closed[0]["data"]["closedById"]


async def test_a_claim_dies_with_its_worker_and_is_taken_over(
    hook_api: Api, hook_engine: Any, receiver: Receiver, clock: MovableClock
) -> None:
    """A worker that claimed a message and died without sending it: on PostgreSQL its
    claim (an advisory lock) goes with its connection and another worker sends the message
    at once; on SQLite the other worker waits for the claim's lease."""
    endpoint, secret = await create_endpoint(hook_api, receiver.url)
    await simple_active(hook_api)
    source: WebhookDeliverer = hook_engine.webhooks
    dead, alive = (WebhookDeliverer(source.db, source.clock, allow_private=True) for _ in "ab")
    if source.postgres:
        conn = await source.db.session_engine.connect()
        assert len(await dead.claim(clock.now(), conn)) == 1
        assert await alive.run_due() == 0  # claimed by a live session
        await conn.invalidate()  # the worker's connection drops
    else:
        assert len(await dead.claim(clock.now())) == 1
        assert await alive.run_due() == 0  # leased
        clock.advance(dead.lease + timedelta(seconds=1))
    assert await alive.run_due() == 1
    [delivery] = receiver.got
    assert verified(delivery, secret)["type"] == "sequence.activated"
    [message] = await messages(hook_api, endpoint)
    assert message["status"] == "DELIVERED" and message["attempts"] == 2


async def test_a_url_now_private_is_refused_at_delivery(
    hook_api: Api, hook_engine: Any, receiver: Receiver
) -> None:
    """The URL is checked again before every attempt: an endpoint saved while its host was
    public (here: while private addresses were allowed) gets nothing once it resolves to one."""
    endpoint, _ = await create_endpoint(hook_api, receiver.url)
    await simple_active(hook_api)
    source: WebhookDeliverer = hook_engine.webhooks
    strict = WebhookDeliverer(source.db, source.clock, allow_private=False)
    assert await strict.run_due() == 1
    assert receiver.got == []
    [message] = await messages(hook_api, endpoint)
    assert message["status"] == "PENDING" and message["attempts"] == 1
    assert message["responseCode"] is None
    assert message["lastError"] == (
        "refused: The host '127.0.0.1' resolves to a private address (127.0.0.1)."
    )
    deleted = await hook_api.mutate("deleteWebhookEndpoint", {"id": endpoint["id"]}, "deletedId")
    assert deleted["errors"] == []  # and its message with it: no later test gets it


async def test_a_slow_endpoint_times_out(
    hook_api: Api, hook_engine: Any, receiver: Receiver
) -> None:
    """The timeout bounds the whole request: an endpoint that doesn't answer in time fails
    the attempt, which is retried."""
    endpoint, _ = await create_endpoint(hook_api, receiver.url)
    await simple_active(hook_api)
    receiver.delay = 1.5
    source: WebhookDeliverer = hook_engine.webhooks
    hasty = WebhookDeliverer(source.db, source.clock, allow_private=True, timeout=0.3)
    assert await hasty.run_due() == 1
    [message] = await messages(hook_api, endpoint)
    assert message["status"] == "PENDING" and message["attempts"] == 1
    assert message["lastError"] == "timed out" and message["responseCode"] is None
    assert 300 <= message["latencyMs"] < 1500
    deleted = await hook_api.mutate("deleteWebhookEndpoint", {"id": endpoint["id"]}, "deletedId")
    assert deleted["errors"] == []
