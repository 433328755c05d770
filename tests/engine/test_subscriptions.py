"""Live updates: subscriptions over the real websocket (uvicorn on loopback, graphql-transport-ws),
and on PostgreSQL changes crossing "processes" through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sekvens.config import Settings
from sekvens.engine.change_bus import Change, ChangeBus, changed
from sekvens.engine.worker import Engine
from sekvens.plugins.registry import Registry
from sekvens.schema.relay import from_global_id
from sekvens.storage.db import Database
from sekvens.storage.tables import Activity as ActivityRow
from sekvens.storage.tables import Connection as ConnectionRow
from tests.api.test_engine import leads, seller
from tests.conftest import (
    POSTGRES_URL,
    Api,
    MovableClock,
    create_postgres_database,
    drop_postgres_database,
)
from tests.engine.live_helpers import fresh_api, task_sequence

UP_NEXT = "subscription { upNextChanged { id subject status kind record { externalId } } }"
CONNECTION_CHANGED = (
    "subscription($s: ID!) { connectionChanged(sequenceId: $s) "
    "{ id status reason currentStepKey record { externalId } activities { status } } }"
)
TIMEOUT = 10


class _Server(uvicorn.Server):
    def capture_signals(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # leave pytest's signal handling alone


@pytest.fixture(scope="session")
async def ws_url(app: Any) -> AsyncIterator[str]:
    """The app served by uvicorn on a free loopback port, lifespan included."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task.exception()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/graphql"
    server.should_exit = True
    await task


class Client:
    """One graphql-transport-ws connection; messages are kept per operation id."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.inbox: dict[str, list[dict[str, Any]]] = defaultdict(list)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))

    async def subscribe(self, op_id: str, query: str, **variables: Any) -> None:
        payload = {"query": query, "variables": variables}
        await self.send({"id": op_id, "type": "subscribe", "payload": payload})

    async def next(self, op_id: str) -> dict[str, Any]:
        """The next message for `op_id` (next, error or complete)."""
        while not self.inbox[op_id]:
            message = await self.receive()
            self.inbox[message.get("id", "")].append(message)
        return self.inbox[op_id].pop(0)

    async def until(self, op_id: str, field: str, done: Any) -> list[dict[str, Any]]:
        """`next` payloads of `op_id` up to the first for which `done(data[field])` holds."""
        seen = []
        while True:
            message = await self.next(op_id)
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            seen.append(message["payload"]["data"][field])
            if done(seen[-1]):
                return seen


@contextlib.asynccontextmanager
async def client(url: str, token: str | None) -> AsyncIterator[Client]:
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        c = Client(ws)
        init: dict[str, Any] = {"type": "connection_init"}
        if token is not None:
            init["payload"] = {"authorization": f"Bearer {token}"}
        await c.send(init)
        assert await c.receive() == {"type": "connection_ack"}
        yield c


async def subscribed(bus: ChangeBus, count: int) -> None:
    """Wait until `count` subscribers listen on the bus (subscribing is asynchronous)."""
    for _ in range(TIMEOUT * 100):
        if bus.subscriber_count >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{bus.subscriber_count} subscribers, expected {count}")


async def test_up_next_and_connections_over_the_websocket(
    api: Api, other_api: Api, engine: Any, ws_url: str
) -> None:
    bus = engine.bus
    owner_id, owner_token = await seller(api, "live@example.com")
    _, bystander_token = await seller(api, "bystander@example.com")
    seq = await task_sequence(api)
    [lead] = await leads(api, owner_id, 1, prefix="W")

    before = bus.subscriber_count
    async with (
        client(ws_url, owner_token) as owner,
        client(ws_url, bystander_token) as bystander,
        client(ws_url, api.token) as admin,
    ):
        await owner.subscribe("up", UP_NEXT)
        await bystander.subscribe("up", UP_NEXT)
        await admin.subscribe("conns", CONNECTION_CHANGED, s=seq["id"])
        await subscribed(bus, before + 3)

        payload = await api.mutate(
            "connectSequence",
            {"sequenceId": seq["id"], "records": [{"id": lead}]},
            "connectedCount",
        )
        assert payload["connectedCount"] == 1
        [connected] = await admin.until("conns", "connectionChanged", lambda c: True)
        assert connected["status"] == "CONNECTED"
        assert connected["record"] == {"externalId": "W0"}
        assert connected["activities"] == []

        await engine.run_until_idle()
        [first] = await owner.until("up", "upNextChanged", lambda a: True)
        assert (first["subject"], first["status"], first["kind"]) == ("First task", "OPEN", "TASK")
        assert first["record"] == {"externalId": "W0"}
        waiting = await admin.until("conns", "connectionChanged", lambda c: c["activities"])
        assert waiting[-1]["activities"] == [{"status": "OPEN"}]

        done = await api.as_token(owner_token).mutate(
            "completeActivity", {"activityId": first["id"]}, "activity { status }"
        )
        assert done["errors"] == []
        closed = await owner.until("up", "upNextChanged", lambda a: a["status"] != "OPEN")
        assert closed[-1] == {**first, "status": "COMPLETED"}

        await engine.run_until_idle()
        second = await owner.until("up", "upNextChanged", lambda a: a["id"] != first["id"])
        assert second[-1]["subject"] == "Second task"

        # Another organization's work reaches none of these subscribers.
        other_owner, _ = await seller(other_api, "elsewhere@example.com")
        other_seq = await task_sequence(other_api, "Elsewhere")
        other_leads = await leads(other_api, other_owner, 1, prefix="X")
        await other_api.mutate(
            "connectSequence",
            {"sequenceId": other_seq["id"], "records": [{"id": other_leads[0]}]},
            "connectedCount",
        )
        await engine.run_until_idle()

        await api.mutate(
            "disconnectSequence", {"connectionId": connected["id"]}, "connection { status }"
        )
        ended = await admin.until(
            "conns", "connectionChanged", lambda c: c["status"] != "CONNECTED"
        )
        assert (ended[-1]["status"], ended[-1]["reason"]) == ("DISCONNECTED", "USER_DISCONNECTED")
        assert all(c["record"]["externalId"] == "W0" for c in ended)
        # Ending the connection ended its work: the owner hears the open task canceled.
        canceled = await owner.until("up", "upNextChanged", lambda a: a["status"] == "CANCELED")
        assert canceled[-1] == {**second[-1], "status": "CANCELED"}
        # The bystander, who is assigned nothing, heard nothing; completing ends the stream.
        await bystander.send({"id": "up", "type": "complete"})
        await asyncio.sleep(0.05)
        assert bystander.inbox["up"] == []
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(owner.next("up"), 0.3)
    await subscribed(bus, 0)  # every websocket closed: every subscriber left the bus
    assert bus.subscriber_count == before


async def test_connection_changed_refusals(
    api: Api, other_api: Api, ws_url: str, engine: Any
) -> None:
    seq = await task_sequence(api, "Refusals")
    async with client(ws_url, other_api.token) as other:
        await other.subscribe("1", CONNECTION_CHANGED, s=seq["id"])
        message = await other.next("1")
        assert message["type"] == "next"
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert (await other.next("1"))["type"] == "complete"

        await other.subscribe("2", CONNECTION_CHANGED, s="not-an-id")
        assert (await other.next("2"))["payload"]["errors"][0]["extensions"]["code"] == (
            "NOT_FOUND"
        )

        # Without a token the socket is closed at connection_init (tests/test_http.py).

    await api.mutate(
        "updateOrganizationSettings", {"sequencesEnabled": False}, "organization { id }"
    )
    try:
        async with client(ws_url, api.token) as admin:
            await admin.subscribe("1", CONNECTION_CHANGED, s=seq["id"])
            message = await admin.next("1")
            assert message["payload"]["errors"][0]["extensions"]["code"] == "FEATURE_DISABLED"
    finally:
        await api.mutate(
            "updateOrganizationSettings", {"sequencesEnabled": True}, "organization { id }"
        )


async def test_a_wrong_token_is_refused_at_connection_init(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": "Bearer nope"}}
        await ws.send(json.dumps(init))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_commit_publishes_and_a_rollback_does_not(
    api: Api, engine: Any, db: Database
) -> None:
    owner_id, _ = await seller(api, "rollback@example.com")
    seq = await task_sequence(api, "Rollback")
    [lead] = await leads(api, owner_id, 1, prefix="R")
    async with engine.bus.subscribe() as subscriber:
        payload = await api.mutate(
            "connectSequence",
            {"sequenceId": seq["id"], "records": [{"id": lead}]},
            "connection: results { connection { id } }",
        )
        connection_id = _pk(payload["connection"][0]["connection"]["id"])
        change = await asyncio.wait_for(subscriber.get(), TIMEOUT)
        assert change.connections == {connection_id: _pk(seq["id"])}
        assert subscriber.deliveries == 1

        class Refused(Exception):
            pass

        with pytest.raises(Refused):
            async with engine.bus.track(db.session(write=True)) as session, session.begin():
                row = await session.get(ConnectionRow, connection_id)
                assert row is not None
                row.error = "never committed"
                await session.flush()
                raise Refused
        async with engine.bus.track(db.session(write=True)) as session, session.begin():
            row = await session.get(ConnectionRow, connection_id)
            assert row is not None
            row.error = None  # unchanged: a flush that writes nothing publishes nothing
        await asyncio.sleep(0.05)
        assert subscriber.deliveries == 1


def _pk(global_id: str) -> int:
    return int(from_global_id(global_id)[1])


async def test_bulk_statements_are_announced_too(api: Api, engine: Any) -> None:
    """A reassignment tells the former assignee too; deactivating a sequence announces the
    connections it ended with one UPDATE."""
    first_id, first_token = await seller(api, "first@example.com")
    second_id, _ = await seller(api, "second@example.com")
    seq = await task_sequence(api, "Bulk")
    records = await leads(api, first_id, 2, prefix="B")
    await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": r} for r in records]},
        "connectedCount",
    )
    await engine.run_until_idle()
    up_next = await api.as_token(first_token).ok("{ upNext { nodes { id } } }")
    activity = up_next["upNext"]["nodes"][0]["id"]
    async with engine.bus.subscribe() as subscriber:
        moved = await api.mutate(
            "reassignActivity",
            {"activityId": activity, "userIds": [second_id]},
            "activity { assignees { id } }",
        )
        assert moved["activity"]["assignees"] == [{"id": second_id}]
        change = await asyncio.wait_for(subscriber.get(), TIMEOUT)
        assert change.activities == {_pk(activity): {_pk(first_id), _pk(second_id)}}

        ended = await api.mutate(
            "deactivateSequence", {"sequenceId": seq["id"]}, "disconnectedCount"
        )
        assert ended["disconnectedCount"] == 2
        change = await asyncio.wait_for(subscriber.get(), TIMEOUT)
        assert len(change.connections_of(_pk(seq["id"]))) == 2


def test_change_payloads_stay_under_the_notify_limit() -> None:
    big = changed(
        connections=((i, 7) for i in range(5000)),
        activities=((i, (1, 2, 3)) for i in range(3000)),
    )
    payloads = big.payloads("me")
    assert len(payloads) > 1 and all(len(p.encode()) < 7000 for p in payloads)
    merged = Change()
    for p in payloads:
        origin, part = Change.from_payload(p)
        assert origin == "me"
        merged.merge(part)
    assert merged == big


# --- Across processes: PostgreSQL LISTEN/NOTIFY ---------------------------------------


@pytest.fixture
async def pg_api() -> AsyncIterator[Api]:
    """An administrator's Api on a PostgreSQL database of its own."""
    if not POSTGRES_URL:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's: set SEKVENS_TEST_POSTGRES_URL")
    url = await create_postgres_database(POSTGRES_URL)
    try:
        async with fresh_api(url) as api:
            yield api
    finally:
        await drop_postgres_database(POSTGRES_URL, url)


async def test_notify_reaches_the_bus_of_another_process(pg_api: Api, clock: MovableClock) -> None:
    api = pg_api
    owner_id, _ = await seller(api, "crossing@example.com")
    seq = await task_sequence(api, "Crossing")
    [lead] = await leads(api, owner_id, 1, prefix="P")
    url = api.db.settings.database_url
    # The API above is one "process"; A runs a worker and B serves subscribers. Each has its
    # own bus, and A its own database engine, as separate processes would.
    db_a = Database(Settings(database_url=url))
    bus_a, bus_b = ChangeBus.for_database(url), ChangeBus.for_database(url)
    engine_a = Engine(db_a, Registry.from_entry_points(), clock, bus=bus_a)
    try:
        await bus_a.start()
        await bus_b.start()
        assert bus_a.listening and bus_b.listening
        async with bus_a.subscribe() as at_a, bus_b.subscribe() as at_b:
            await api.mutate(
                "connectSequence",
                {"sequenceId": seq["id"], "records": [{"id": lead}]},
                "connectedCount",
            )
            connected = await asyncio.wait_for(at_b.get(), TIMEOUT)
            [(connection_id, sequence_id)] = connected.connections.items()
            assert sequence_id == _pk(seq["id"]) and connected.activities == {}
            assert await asyncio.wait_for(at_a.get(), TIMEOUT) == connected

            assert await engine_a.run_until_idle() == 1
            ran = await asyncio.wait_for(at_b.get(), TIMEOUT)
            [activity_id] = ran.activities
            assert ran == changed([(connection_id, sequence_id)], [(activity_id, [_pk(owner_id)])])
            assert await asyncio.wait_for(at_a.get(), TIMEOUT) == ran  # A's own, on commit
            await asyncio.sleep(0.3)
            # Each heard each change once: A did not hear its own again through LISTEN.
            assert (at_a.deliveries, at_b.deliveries) == (2, 2)
        async with api.db.session() as session:
            activity = await session.get(ActivityRow, activity_id)
            assert activity is not None and activity.connection_id == connection_id
    finally:
        await bus_a.stop()
        await bus_b.stop()
        await db_a.dispose()
