"""Fixtures for delivery and tracking: a real SMTP server on loopback and an app that uses it.

`inbox` is an aiosmtpd server on 127.0.0.1 (a free port) that keeps what it accepts, or
answers every message with `inbox.reply` (say "451 ...") when that is set, or every recipient
with `inbox.rcpt_reply` (say "550 5.1.1 ...", at RCPT TO). `mail_app` is the
app with `SEKVENS_SMTP_URL` pointing at it and tracking on; `mail_api` calls its GraphQL as
a fresh organization's administrator and `mail_engine` is its engine.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage.db import Database
from tests.conftest import Api, MovableClock, new_org

PUBLIC_URL = "http://sekvens.test"
SECRET_KEY = "test-secret-key-" + "x" * 32


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    """What the loopback SMTP server accepted; `reply` set: refuse every message with it
    (after DATA); `rcpt_reply` set: refuse every recipient with it (at RCPT TO)."""

    port: int = 0
    reply: str | None = None
    rcpt_reply: str | None = None
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self.lock:
            if self.rcpt_reply is not None:
                self.refused += 1
                return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.reply is not None:
                self.refused += 1
                return self.reply
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message)  # type: ignore[arg-type]
            )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received if address in r.rcpt_tos]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox(port=free_port())
    controller = Controller(
        inbox, hostname="127.0.0.1", port=inbox.port, server_hostname="smtp.sekvens.test"
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def inbox(smtp_server: Inbox) -> Iterator[Inbox]:
    smtp_server.reply = smtp_server.rcpt_reply = None
    yield smtp_server
    smtp_server.reply = smtp_server.rcpt_reply = None


@pytest.fixture(scope="session")
async def mail_app(db: Database, clock: MovableClock, smtp_server: Inbox) -> Any:
    settings = Settings(
        database_url=db.settings.database_url,
        smtp_url=f"smtp://127.0.0.1:{smtp_server.port}?starttls=off",
        mail_from="robot@sekvens.test",
        public_url=PUBLIC_URL,
        secret_key=SECRET_KEY,
        smtp_timeout_seconds=10,
        # Pacing off, so tests send a batch of one mailbox at once; test_throttles.py
        # turns it on.
        mailbox_send_interval_seconds=0,
    )
    return create_app(settings, db, clock=clock)


@pytest.fixture(scope="session")
async def mail_http(mail_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mail_app), base_url=PUBLIC_URL
    ) as client:
        yield client


@pytest.fixture
async def mail_api(mail_http: httpx.AsyncClient, db: Database) -> Api:
    return await new_org(mail_http, db)


@pytest.fixture
def mail_engine(mail_app: Any) -> Any:
    return mail_app.state.services.engine


def unique_address(name: str = "lead") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
async def small_jobs(app: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """Over 5 matching records is a job, of chunks of 4 records; other tests' jobs done first
    (so the next chunk is this test's)."""
    services = app.state.services
    await services.engine.run_until_idle()
    monkeypatch.setattr(
        services, "settings", dataclasses.replace(services.settings, job_threshold=5)
    )
    monkeypatch.setattr(services.engine.jobs, "chunk", 4)
    yield services.engine
