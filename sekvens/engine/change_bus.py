"""The change bus: after a transaction commits, tell subscribers which connections and
activities it changed.

A `Change` carries ids only (connection id -> sequence id, activity id -> assignee user
ids, job ids); subscribers read the rows again from the database, so payloads stay small and never
show data a reader may not see.

How a change travels:

* `ChangeBus.track(session)` watches an `AsyncSession`: every flush collects the
  connections, activities and activity assignees it wrote. Just before the outermost
  commit the bus resolves the activities' assignees and, on PostgreSQL, issues
  `SELECT pg_notify(...)` in that same transaction, so other processes hear of the change
  exactly when (and only if) it commits. After the commit it hands the change to this
  process's subscribers. A rollback publishes nothing.
* On PostgreSQL `start()` opens a dedicated asyncpg connection that LISTENs on the channel
  (on SEKVENS_DIRECT_DATABASE_URL when set: a transaction pooler would not keep the LISTEN
  on one server connection, nor hand it the notifications) and fans notifications from
  other processes out to local subscribers (notifications from this bus itself are
  ignored: they were delivered locally on commit). SQLite has no cross-process events:
  changes stay in the process that made them.
* Each subscriber has a pending `Change` that new changes merge into: a slow subscriber
  costs memory bounded by the ids it has not read yet, and never blocks publishers.

Delivery is best effort: a notification sent while the listener reconnects is lost, so
clients re-query after reconnecting their websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from sekvens.config import async_database_url
from sekvens.storage import tokens as token_store
from sekvens.storage.tables import Activity, ActivityAssignee, Connection, Job

log = logging.getLogger("sekvens.notify")

CHANNEL = "sekvens_changes"
#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well below.
PAYLOAD_MAX = 7000
#: Ids of one kind announced per transaction; a bulk connect of more records announces
#: the first ones only (a client showing that many re-queries anyway).
TRACK_MAX = 10_000
_INFO_KEY = "sekvens_change_tracker"


@dataclass
class Change:
    """What one or more transactions changed: ids only."""

    #: connection id -> its sequence id
    connections: dict[int, int] = field(default_factory=dict)
    #: activity id -> the user ids it is assigned to
    activities: dict[int, frozenset[int]] = field(default_factory=dict)
    #: job ids (a job's status or progress changed)
    jobs: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.connections or self.activities or self.jobs)

    def merge(self, other: Change) -> None:
        self.connections.update(other.connections)
        self.jobs.update(other.jobs)
        for activity_id, users in other.activities.items():
            self.activities[activity_id] = self.activities.get(activity_id, frozenset()) | users

    def connections_of(self, sequence_id: int) -> list[int]:
        return sorted(c for c, s in self.connections.items() if s == sequence_id)

    def activities_of(self, user_id: int) -> list[int]:
        return sorted(a for a, users in self.activities.items() if user_id in users)

    # --- Wire format (NOTIFY payloads) -------------------------------------------------

    def payloads(self, origin: str) -> list[str]:
        """JSON messages of at most PAYLOAD_MAX bytes that together carry this change."""
        items: list[tuple[str, Any]] = [("c", [c, s]) for c, s in self.connections.items()]
        items += [("a", [a, sorted(users)]) for a, users in self.activities.items()]
        items += [("j", j) for j in sorted(self.jobs)]
        out: list[str] = []
        current: dict[str, list[Any]] = {"c": [], "a": [], "j": []}
        size = 0
        for kind, item in items:
            item_size = len(json.dumps(item, separators=(",", ":"))) + 1
            if size + item_size > PAYLOAD_MAX - 100 and size:
                out.append(_dump(origin, current))
                current, size = {"c": [], "a": [], "j": []}, 0
            current[kind].append(item)
            size += item_size
        if size:
            out.append(_dump(origin, current))
        return out

    @classmethod
    def from_payload(cls, payload: str) -> tuple[str, Change]:
        """(origin, change) of one NOTIFY payload."""
        data = json.loads(payload)
        change = cls(
            connections={int(c): int(s) for c, s in data.get("c", [])},
            activities={int(a): frozenset(int(u) for u in us) for a, us in data.get("a", [])},
            jobs={int(j) for j in data.get("j", [])},
        )
        return str(data.get("o", "")), change


def _dump(origin: str, body: dict[str, list[Any]]) -> str:
    return json.dumps({"o": origin, **{k: v for k, v in body.items() if v}}, separators=(",", ":"))


class Subscriber:
    """One consumer's view of the bus: `async for change in subscriber` yields merged changes."""

    def __init__(self, bus: ChangeBus):
        self._bus = bus
        self._loop = asyncio.get_running_loop()
        self._pending = Change()
        self._ready = asyncio.Event()
        #: How many changes were handed to this subscriber (before merging).
        self.deliveries = 0

    def push(self, change: Change) -> None:
        """Hand over a change; safe from any thread or event loop."""
        try:
            same_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            same_loop = False
        if same_loop:
            self._push(change)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._push, change)

    def _push(self, change: Change) -> None:
        self.deliveries += 1
        self._pending.merge(change)
        self._ready.set()

    async def get(self) -> Change:
        """The changes since the last call (waits for at least one)."""
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        change, self._pending = self._pending, Change()
        return change

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Change:
        return await self.get()


class _Tracker:
    """Collects what one session writes; publishes it around the outermost commit.

    Unit-of-work flushes are seen in `after_flush`; bulk statements (an INSERT of many
    connections, an UPDATE that disconnects a sequence's connections, the DELETE of an
    activity's assignees) in `do_orm_execute`: INSERTs through their RETURNING ids, UPDATEs
    and DELETEs through a SELECT of the rows they are about to change.
    """

    def __init__(self, bus: ChangeBus):
        self.bus = bus
        self._reset()

    def _reset(self) -> None:
        #: connection id -> sequence id (None: look it up before commit)
        self.connections: dict[int, int | None] = {}
        self.activities: set[int] = set()
        #: activity id -> users it was assigned to before a reassignment
        self.former: dict[int, set[int]] = {}
        self.jobs: set[int] = set()
        self.ready: Change | None = None

    def _connection(self, connection_id: int | None, sequence_id: int | None = None) -> None:
        if connection_id is None:
            return
        if connection_id in self.connections:
            if sequence_id is not None:
                self.connections[connection_id] = sequence_id
        elif len(self.connections) < TRACK_MAX:
            self.connections[connection_id] = sequence_id

    def _activity(self, activity_id: int | None) -> None:
        if activity_id is not None and len(self.activities) < TRACK_MAX:
            self.activities.add(activity_id)

    # --- Collecting -----------------------------------------------------------------------

    def after_flush(self, session: Session, _context: Any) -> None:
        dirty = session.dirty  # a walk of the identity map: once per flush, not per object
        for obj in (*session.new, *dirty, *session.deleted):
            if isinstance(obj, Job):
                self.jobs.add(obj.id)
                continue
            if not isinstance(obj, Connection | Activity | ActivityAssignee):
                continue
            if obj in dirty and not session.is_modified(obj):
                continue
            if isinstance(obj, Connection):
                self._connection(obj.id, obj.sequence_id)
            elif isinstance(obj, Activity):
                self._activity(obj.id)
                self._connection(obj.connection_id, obj.sequence_id)
            else:
                self._activity(obj.activity_id)

    def do_orm_execute(self, state: ORMExecuteState) -> Any:
        if state.is_select or not (state.is_insert or state.is_update or state.is_delete):
            return None
        table = _TRACKED.get(getattr(getattr(state.statement, "table", None), "name", ""))
        if table is None:
            return None
        params = state.parameters
        rows: list[Mapping[str, Any]] = []
        if isinstance(params, list):
            rows = params
        elif params:
            rows = [cast(Mapping[str, Any], params)]
        if table is ActivityAssignee.__table__:
            for row in rows:
                self._activity(row.get("activity_id"))
        elif not state.is_insert:
            for row in rows:  # ORM bulk UPDATE by primary key
                if "id" in row:
                    self._track_row(table, row["id"])
        if not state.is_insert:
            where = getattr(state.statement, "whereclause", None)
            if where is not None:
                self._before_change(state.session, table, where)
            return None
        if not getattr(state.statement, "_returning", ()):
            return None
        frozen = state.invoke_statement().freeze()
        for returned in frozen().mappings():
            if "id" in returned:
                self._track_row(table, returned["id"], returned.get("sequence_id"))
        return frozen()

    def _track_row(self, table: Any, pk: int, sequence_id: int | None = None) -> None:
        if table is Connection.__table__:
            self._connection(pk, sequence_id)
        elif table is Activity.__table__:
            self._activity(pk)

    def _before_change(self, session: Session, table: Any, where: Any) -> None:
        """The rows an UPDATE or DELETE is about to change (at most TRACK_MAX)."""
        if table is Connection.__table__:
            connections = select(Connection.id, Connection.sequence_id).where(where)
            for pk, sequence_id in session.execute(connections.limit(TRACK_MAX)):
                self._connection(pk, sequence_id)
        elif table is Activity.__table__:
            activities = select(Activity.id, Activity.connection_id, Activity.sequence_id)
            for pk, connection_id, sequence_id in session.execute(
                activities.where(where).limit(TRACK_MAX)
            ):
                self._activity(pk)
                self._connection(connection_id, sequence_id)
        else:
            assignees = select(ActivityAssignee.activity_id, ActivityAssignee.user_id).where(where)
            for activity_id, user_id in session.execute(assignees.limit(TRACK_MAX)):
                self._activity(activity_id)
                self.former.setdefault(activity_id, set()).add(user_id)

    # --- Publishing -----------------------------------------------------------------------

    def before_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint: the outer transaction publishes
        session.flush()
        if not self.connections and not self.activities and not self.jobs:
            return
        unknown = sorted(c for c, s in self.connections.items() if s is None)
        for chunk in _chunks(unknown):
            stmt = select(Connection.id, Connection.sequence_id).where(Connection.id.in_(chunk))
            for pk, sequence_id in session.execute(stmt):
                self.connections[pk] = sequence_id
        assigned: dict[int, set[int]] = {a: set(self.former.get(a, ())) for a in self.activities}
        for chunk in _chunks(sorted(self.activities)):
            stmt = select(ActivityAssignee.activity_id, ActivityAssignee.user_id).where(
                ActivityAssignee.activity_id.in_(chunk)
            )
            for activity_id, user_id in session.execute(stmt):
                assigned[activity_id].add(user_id)
        change = Change(
            connections={c: s for c, s in self.connections.items() if s is not None},
            activities={a: frozenset(users) for a, users in assigned.items()},
            jobs=set(self.jobs),
        )
        if change and session.get_bind().dialect.name == "postgresql":
            for payload in change.payloads(self.bus.origin):
                session.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": self.bus.channel, "payload": payload},
                )
        self.ready = change

    def after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return
        change = self.ready
        self._reset()
        if change:
            self.bus.deliver(change)

    def after_transaction_end(self, _session: Session, transaction: Any) -> None:
        if transaction.parent is None:  # the outermost one ended: committed or rolled back
            self._reset()


#: The tables whose changes are published, by name (DML statements carry annotated copies).
_TRACKED = {m.__tablename__: m.__table__ for m in (Connection, Activity, ActivityAssignee)}


def _chunks(ids: list[int], size: int = 1000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class ChangeBus:
    """Fan-out of `Change`s to subscribers in this process, and across processes through
    PostgreSQL LISTEN/NOTIFY when `listen_url` names a PostgreSQL database."""

    def __init__(self, listen_url: str | None = None, channel: str = CHANNEL):
        self.channel = channel
        self.origin = uuid.uuid4().hex[:16]
        self.listen_url = listen_url
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._listening: asyncio.Event | None = None
        #: Called with (user ids, token ids) of other processes' authentication changes
        #: (token_store.AUTH_CHANNEL), and with (None, []) on each (re)connect: forget all.
        self.auth_listeners: list[Callable[[list[int] | None, list[int]], None]] = []

    @classmethod
    def for_database(cls, database_url: str) -> ChangeBus:
        """A bus that listens across processes on PostgreSQL and stays local on SQLite;
        `database_url` is where it listens (`Settings.session_database_url`)."""
        url = async_database_url(database_url)
        return cls(database_url if url.startswith("postgresql") else None)

    # --- Publishing ---------------------------------------------------------------------

    def track(self, session: AsyncSession) -> AsyncSession:
        """Publish what `session` changes each time it commits (idempotent); returns it."""
        sync = session.sync_session
        if _INFO_KEY not in sync.info:
            tracker = _Tracker(self)
            sync.info[_INFO_KEY] = tracker
            event.listen(sync, "after_flush", tracker.after_flush)
            event.listen(sync, "do_orm_execute", tracker.do_orm_execute)
            event.listen(sync, "before_commit", tracker.before_commit)
            event.listen(sync, "after_commit", tracker.after_commit)
            event.listen(sync, "after_transaction_end", tracker.after_transaction_end)
        return session

    def deliver(self, change: Change) -> None:
        """Hand a change to this process's subscribers (publishers call it after commit)."""
        for subscriber in list(self._subscribers):
            subscriber.push(change)

    # --- Subscribing --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber(self)
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    # --- Listening across processes (PostgreSQL) ----------------------------------------

    async def start(self, wait: float = 5.0) -> None:
        """Start listening (PostgreSQL only); waits up to `wait` seconds for the first LISTEN,
        then keeps trying in the background."""
        if self.listen_url is None or self._task is not None:
            return
        self._listening = listening = asyncio.Event()
        self._task = asyncio.create_task(
            self._listen_forever(_dsn(self.listen_url), listening), name="sekvens-notify-listen"
        )
        try:
            await asyncio.wait_for(listening.wait(), wait)
        except TimeoutError:
            log.warning("not listening for changes yet; retrying in the background")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def listening(self) -> bool:
        return self._listening is not None and self._listening.is_set()

    async def _listen_forever(
        self, dsn: str, listening: asyncio.Event, ping_seconds: float = 30.0
    ) -> None:
        """LISTEN on `dsn`, reconnecting with backoff; `listening` is set while it listens."""
        import asyncpg

        backoff = 0.5
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(_setter(lost))
                await conn.add_listener(self.channel, self._on_notify)
                await conn.add_listener(token_store.AUTH_CHANNEL, self._on_auth)
                self._auth_changed(None, [])  # what changed while nobody listened is unknown
                listening.set()
                backoff = 0.5
                log.info("listening for changes on channel %s", self.channel)
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), ping_seconds)
                    except TimeoutError:
                        await conn.execute("SELECT 1", timeout=10)
                raise ConnectionError("the listening connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                listening.clear()
                log.warning("change listener lost (%s); reconnecting in %.1fs", e, backoff)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    def _on_auth(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            user_ids, token_ids = token_store.auth_payload(payload)
        except (ValueError, TypeError):
            log.warning("ignoring a malformed auth notification: %.200s", payload)
            self._auth_changed(None, [])
            return
        self._auth_changed(user_ids, token_ids)

    def _auth_changed(self, user_ids: list[int] | None, token_ids: list[int]) -> None:
        for listener in list(self.auth_listeners):
            listener(user_ids, token_ids)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            origin, change = Change.from_payload(payload)
        except (ValueError, TypeError):
            log.warning("ignoring a malformed change notification: %.200s", payload)
            return
        if origin != self.origin and change:
            self.deliver(change)


def _dsn(listen_url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy database URL."""
    url = make_url(async_database_url(listen_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _setter(flag: asyncio.Event) -> Callable[[Any], None]:
    return lambda _conn: flag.set()


def changed(
    connections: Iterable[tuple[int, int]] = (),
    activities: Iterable[tuple[int, Iterable[int]]] = (),
) -> Change:
    """A `Change` from (connection id, sequence id) and (activity id, user ids) pairs."""
    return Change(
        connections=dict(connections),
        activities={a: frozenset(users) for a, users in activities},
    )
