"""Open pixel and click redirect: signed tokens, only the email's own links, events that
move conditions, and the secret key's life cycle."""

from __future__ import annotations

import base64
import html
import os
import re
import stat
import string
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.engine.link_signing import (
    CLICK,
    OPEN,
    LinkSigner,
    SecretKeyError,
    load_secret_key,
    message_links,
    secret_file,
    text_to_html,
)
from sekvens.storage.db import Database
from sekvens.storage.tables import EngagementEvent, OutboxMessage
from sekvens.tracking_endpoints import PIXEL
from tests.conftest import Api, MovableClock
from tests.engine.conftest import PUBLIC_URL, Inbox
from tests.engine.helpers import (
    LINK,
    click_condition,
    connect_leads,
    connections,
    email_then_task,
    outbox,
)


def tracked_urls(inbox: Inbox, address: str) -> tuple[str, list[str]]:
    """The open pixel's path and the click paths of the html part sent to `address`."""
    [message] = inbox.to(address)
    body = message.get_body(("html",)).get_content()
    pixel = re.search(r'src="([^"]+)"', body)
    assert pixel
    clicks = [html.unescape(u) for u in re.findall(r'href="([^"]+)"', body) if "/t/u/" not in u]
    strip = len(PUBLIC_URL)
    return html.unescape(pixel.group(1))[strip:], [u[strip:] for u in clicks]


async def events_of(db: Database, message_id: str) -> list[EngagementEvent]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(EngagementEvent)
                .where(EngagementEvent.message_id == message_id)
                .order_by(EngagementEvent.id)
            )
        )


async def test_a_click_redirects_to_the_link_and_moves_the_condition(
    mail_api: Api, mail_engine: Any, mail_http: httpx.AsyncClient, inbox: Inbox, db: Database
) -> None:
    seq = await click_condition(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()
    assert (await connections(mail_api, seq))["L0"]["activities"][-1]["subject"] != "Clicked"
    _, clicks = tracked_urls(inbox, address)
    assert len(clicks) == 2

    response = await mail_http.get(clicks[0])
    assert response.status_code == 302
    assert response.headers["location"] == LINK
    assert "no-store" in response.headers["cache-control"]
    await mail_engine.run_until_idle()
    state = (await connections(mail_api, seq))["L0"]
    assert state["status"] == "CONNECTED"
    assert {"subject": "Clicked", "status": "OPEN", "kind": "TASK"} in state["activities"]
    assert all(a["subject"] != "No click" for a in state["activities"])

    message_id = (await outbox(mail_api))[address]["messageId"]
    [event] = await events_of(db, message_id)
    assert (event.kind, event.data["url"]) == ("LINK_CLICKED", LINK)
    again = await mail_http.get(clicks[1])  # the other link, "(https://example.com/docs)."
    assert again.headers["location"] == "https://example.com/docs"


async def test_the_open_pixel_records_an_open_once_a_minute(
    mail_api: Api,
    mail_engine: Any,
    mail_http: httpx.AsyncClient,
    inbox: Inbox,
    db: Database,
    clock: MovableClock,
) -> None:
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()
    pixel, _ = tracked_urls(inbox, address)
    message_id = (await outbox(mail_api))[address]["messageId"]

    for _ in range(2):
        response = await mail_http.get(pixel)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
        assert response.content == PIXEL
    [event] = await events_of(db, message_id)
    assert event.kind == "EMAIL_OPENED" and event.activity_id is not None

    clock.advance(timedelta(minutes=2))
    assert (await mail_http.get(pixel)).status_code == 200
    assert [e.kind for e in await events_of(db, message_id)] == ["EMAIL_OPENED"] * 2


async def test_bad_tokens_are_404_and_never_redirect(
    mail_api: Api, mail_engine: Any, mail_http: httpx.AsyncClient, inbox: Inbox, db: Database
) -> None:
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()
    pixel, clicks = tracked_urls(inbox, address)
    signer: LinkSigner = mail_engine.deliverer.signer
    async with db.session() as session:
        pk = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.to_address == address)
        )
    assert pk is not None

    token = clicks[0].removeprefix("/t/c/")
    payload, mac = token.split(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    open_token = pixel.removeprefix("/t/o/").removesuffix(".gif")
    bad = [
        f"/t/c/{payload}.{flipped}",  # tampered mac
        f"/t/c/{signer.sign(CLICK, pk, 'https://evil.example/')[:-3]}abc",
        f"/t/c/{payload[:-2]}{mac}",  # tampered payload
        f"/t/c/{open_token}",  # an open token is no click token
        f"/t/c/{signer.sign(CLICK, pk, 'https://evil.example/')}",  # signed, not in the email
        f"/t/c/{signer.sign(CLICK, pk + 10_000_000, LINK)}",  # no such message
        "/t/c/garbage",
        "/t/c/a.b.c",
        f"/t/o/{payload}.{mac}.gif",  # a click token is no open token
        f"/t/o/{open_token[:-1]}.gif",
        "/t/o/.gif",
    ]
    for path in bad:
        response = await mail_http.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers
    assert await events_of(db, (await outbox(mail_api))[address]["messageId"]) == []


URLSAFE = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
STANDARD = str.maketrans("-_", "+/")


def other_encodings(signer: LinkSigner, kind: str, pk: int, url: str = "") -> list[str]:
    """The genuine token of (kind, pk, url) as lenient base64 decoders also read it: padded,
    in the standard alphabet, with other unused low bits, or with the id zero-padded."""
    token = signer.sign(kind, pk, url)
    payload, mac = token.split(".")
    last = URLSAFE[URLSAFE.index(mac[-1]) ^ 1]  # 16 bytes: the last character's low bits unused
    zero_padded = base64.urlsafe_b64encode(f"0{pk}:{url}".encode()).decode().rstrip("=")
    variants = [
        f"{payload}{'=' * (-len(payload) % 4)}.{mac}==",
        f"{payload}.{mac[:-1]}{last}",
        f"{zero_padded}.{mac}",
    ]
    if token.translate(STANDARD) != token:
        variants.append(token.translate(STANDARD))
    return variants


async def test_tokens_in_another_encoding_are_404(
    mail_api: Api, mail_engine: Any, mail_http: httpx.AsyncClient, inbox: Inbox, db: Database
) -> None:
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()
    pixel, _ = tracked_urls(inbox, address)
    signer: LinkSigner = mail_engine.deliverer.signer
    async with db.session() as session:
        pk = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.to_address == address)
        )
    assert pk is not None and pixel == f"/t/o/{signer.sign(OPEN, pk)}.gif"
    superscript_two = base64.urlsafe_b64encode("\u00b2:".encode()).decode()  # "²".isdigit()
    for token in [*other_encodings(signer, OPEN, pk), f"{superscript_two}.AAAA"]:
        assert (await mail_http.get(f"/t/o/{token}.gif")).status_code == 404, token
    assert await events_of(db, (await outbox(mail_api))[address]["messageId"]) == []
    assert (await mail_http.get(pixel)).status_code == 200


def test_a_token_has_one_encoding() -> None:
    signer = LinkSigner(Settings(public_url="https://t.example", secret_key="k" * 40))
    pk = next(pk for pk in range(1, 1000) if set(signer.sign(OPEN, pk)) & set("-_"))
    variants = other_encodings(signer, OPEN, pk)
    assert len(variants) == 4  # the standard alphabet is among them
    for token in variants:
        assert signer.verify(OPEN, token) is None, token
    assert signer.verify(OPEN, signer.sign(OPEN, pk)) == (pk, "")


def test_links_and_html() -> None:
    text = "See https://a.example/x?y=1&z=2. Or (https://b.example/wiki/Foo_(bar)), mailto:x@y"
    assert message_links(text, None) == {
        "https://a.example/x?y=1&z=2",
        "https://b.example/wiki/Foo_(bar)",
    }
    page = '<p><a class="x" href="https://c.example/?a=1&amp;b=2">c</a> <a href="mailto:q@r">m</a>'
    assert message_links("", page) == {"https://c.example/?a=1&b=2"}
    rendered = text_to_html("1 < 2\nhttps://a.example/?q=<x>")
    assert "1 &lt; 2<br>" in rendered and '<a href="https://a.example/?q=">' in rendered

    signer = LinkSigner(Settings(public_url="https://t.example/", secret_key="k" * 40))
    decorated = signer.decorate(7, "", page + "<A HREF='https://d.example'>d</A></body>")
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', decorated, re.I)]
    assert hrefs[1] == "mailto:q@r"
    for href, url in ((hrefs[0], "https://c.example/?a=1&b=2"), (hrefs[2], "https://d.example")):
        assert href.startswith("https://t.example/t/c/")
        assert signer.verify(CLICK, href.rsplit("/", 1)[1]) == (7, url)
    assert decorated.index("<img") < decorated.index("</body>")
    assert signer.verify(OPEN, signer.sign(OPEN, 7)) == (7, "")
    other = LinkSigner(Settings(public_url="https://t.example", secret_key="j" * 40))
    assert other.verify(OPEN, signer.sign(OPEN, 7)) is None


def test_the_embedded_default_generates_and_keeps_a_secret_key(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sekvens.db'}")
    path = secret_file(settings)
    assert path == tmp_path / "sekvens.secret"
    key = load_secret_key(settings)
    assert key and len(key) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret_key(settings) == key  # the next start reads it
    assert [p.name for p in tmp_path.iterdir()] == ["sekvens.secret"]
    given = Settings(database_url=settings.database_url, secret_key="s" * 32)
    assert load_secret_key(given) == b"s" * 32
    with pytest.raises(SecretKeyError, match="too short"):
        load_secret_key(Settings(secret_key="short"))
    path.write_text("x\n")
    with pytest.raises(SecretKeyError, match="no usable secret key"):
        load_secret_key(settings)


async def test_production_on_postgresql_refuses_to_start_without_a_secret_key() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", env="production")
    assert "secret_key" not in repr(Settings(secret_key="x" * 40, smtp_url="smtp://u:p@h"))
    app = create_app(settings)
    with pytest.raises(SecretKeyError, match="SEKVENS_SECRET_KEY is not set"):
        async with app.router.lifespan_context(app):
            pass
    development = Settings(database_url=settings.database_url)
    assert load_secret_key(development) is None  # a per-process key, with a warning
    assert LinkSigner(development).key


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SEKVENS_SMTP_URL": "smtps://u:p@mail.example.com",
            "SEKVENS_MAIL_FROM": "noreply@example.com",
            "SEKVENS_MAIL_MAX_ATTEMPTS": "3",
            "SEKVENS_MAIL_RETRY_SECONDS": "30",
            "SEKVENS_PUBLIC_URL": "https://sekvens.example.com/",
            "SEKVENS_SECRET_KEY": "z" * 40,
        }
    )
    assert settings.smtp_url == "smtps://u:p@mail.example.com"
    assert (settings.mail_from, settings.mail_max_attempts, settings.mail_retry_seconds) == (
        "noreply@example.com",
        3,
        30,
    )
    assert settings.public_url == "https://sekvens.example.com"
    assert settings.secret_key == "z" * 40
    assert "p@mail" not in repr(settings) and "zzz" not in repr(settings)
    assert Settings.from_env({}).smtp_url is None
