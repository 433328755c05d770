"""What a hit on a tracking link does: an open or a click becomes an engagement event, an
unsubscribe suppresses the address (the HTTP endpoints are `sekvens/tracking_endpoints.py`).

Hits become engagement events through `record_events`, with ids derived from the token and the
minute (`tracking:open:<message>:<minute>`): repeated hits within a minute (an image proxy
plus the reader, a double click) are one event; later hits are new events.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sekvens.domain.life_cycles import OutboxStatus
from sekvens.engine.events import EventInput, record_events
from sekvens.engine.link_signing import CLICK, message_links
from sekvens.engine.worker import Engine
from sekvens.plugins.api import EventKind
from sekvens.storage import suppression
from sekvens.storage.db import Database
from sekvens.storage.tables import Connection, OutboxMessage

log = logging.getLogger("sekvens.tracking")


async def unsubscribe(db: Database, engine: Engine, message_pk: int) -> bool:
    """Suppress the message's address and end the record's running connections
    (UNSUBSCRIBED); False when the message is gone."""
    now = engine.clock.now()
    session = engine.bus.track(db.session(write=True))
    async with session, session.begin():
        row = await session.get(OutboxMessage, message_pk)
        if row is None:
            return False
        record_id = await session.scalar(
            select(Connection.record_id).where(Connection.id == row.connection_id)
        )
        await suppression.unsubscribe_record(
            session, row.organization_id, record_id, row.to_address, now
        )
    return True


async def record_hit(db: Database, engine: Engine, message_pk: int, kind: str, url: str) -> bool:
    """Record an open (`url` empty) or a click of `url` as an engagement event; False when the
    message is gone or the link is not in it. A failure to record is logged and the reader
    still gets the pixel or the redirect."""
    allowed = False
    now = engine.clock.now()
    minute = int(now.timestamp() // 60)
    if kind == CLICK:
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        event_id = f"tracking:click:{message_pk}:{digest}:{minute}"
        event_kind, data = EventKind.LINK_CLICKED, {"source": "tracking", "url": url}
    else:
        event_id = f"tracking:open:{message_pk}:{minute}"
        event_kind, data = EventKind.EMAIL_OPENED, {"source": "tracking"}
    try:
        # Tracked by the engine's bus: a condition that moves on is announced.
        session = engine.bus.track(db.session(write=True))
        async with session, session.begin():
            row = await session.get(OutboxMessage, message_pk)
            if row is None or row.status == OutboxStatus.STORED:
                return False
            if kind == CLICK and url not in message_links(row.text, row.html):
                return False
            allowed = True
            await record_events(
                session,
                engine.runner,
                row.organization_id,
                [
                    EventInput(
                        event_id=event_id,
                        kind=event_kind.value,
                        occurred_at=now,
                        message_id=row.message_id,
                        data=data,
                    )
                ],
            )
    except IntegrityError:  # the same hit recorded concurrently: a duplicate
        log.debug("tracking event %s was recorded concurrently", event_id)
    except Exception:
        log.exception("recording tracking event %s failed", event_id)
        return allowed
    engine.wake()
    return allowed
