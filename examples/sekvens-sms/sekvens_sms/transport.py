"""How `sms.auto` sends: the `SmsTransport` protocol and a file-based default."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

OUTBOX_ENV = "SEKVENS_SMS_OUTBOX"


@dataclass(frozen=True)
class SmsMessage:
    to: str
    text: str
    idempotency_key: str


class SmsTransport(Protocol):
    async def send(self, message: SmsMessage) -> str:
        """Send `message` and return its id. Sending again with the same
        `idempotency_key` must return the first id without sending twice."""
        ...


class OutboxTransport:
    """Appends each message as one JSON line (`id`, `to`, `text`, `idempotency_key`) to a file
    that an SMS gateway picks up. A message whose key is already in the file is not added again.

    The engine runs a step of a connection in one worker at a time, so the check-then-append
    needs no lock.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    @classmethod
    def from_env(cls) -> OutboxTransport:
        """The outbox named by `SEKVENS_SMS_OUTBOX`; raises `RuntimeError` when it is not set."""
        path = os.environ.get(OUTBOX_ENV)
        if not path:
            raise RuntimeError(f"Set {OUTBOX_ENV} to the file sms.auto appends messages to.")
        return cls(path)

    async def send(self, message: SmsMessage) -> str:
        return await asyncio.to_thread(self._send, message)

    def _send(self, message: SmsMessage) -> str:
        if self.path.exists():
            with self.path.open(encoding="utf-8") as outbox:
                for line in outbox:
                    entry = json.loads(line)
                    if entry["idempotency_key"] == message.idempotency_key:
                        return str(entry["id"])
        message_id = f"sms-{uuid.uuid4().hex}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as outbox:
            outbox.write(json.dumps({"id": message_id, **asdict(message)}) + "\n")
        return message_id
