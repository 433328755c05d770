"""Link signing for open and click tracking: the secret key, signed tokens, and the html a
tracked email carries.

A delivered email's html part gets a 1x1 open pixel (`/t/o/<token>.gif`) and every http(s)
link rewritten to `/t/c/<token>`. A token is `<payload>.<mac>`: the payload names the outbox
message (and, for a click, the original URL); the mac is HMAC-SHA256, truncated to 128 bits,
over (version, kind, message id, url) with a key derived from `SEKVENS_SECRET_KEY`. What a
hit on those links does is in `engine/tracking_hits.py`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html as htmllib
import logging
import os
import re
import secrets
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

from sqlalchemy.engine import make_url

from sekvens.config import Settings

log = logging.getLogger("sekvens.tracking")

SECRET_FILE = "sekvens.secret"
MIN_SECRET_CHARS = 32
OPEN, CLICK, UNSUBSCRIBE = "open", "click", "unsubscribe"
TOKEN_MAX = 4096
_MAC_BYTES = 16
_VERSION = b"sekvens-tracking-v1"
_MESSAGE_ID = re.compile(r"[0-9]{1,18}")
_GENERATE_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class SecretKeyError(RuntimeError):
    """The secret key is missing where it must be set, or unusable."""


# --- The secret key ------------------------------------------------------------------------


def secret_file(settings: Settings) -> Path | None:
    """Where the embedded default keeps its generated key: next to the SQLite database file."""
    if not settings.is_sqlite:
        return None
    database = make_url(settings.async_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve().parent / SECRET_FILE


def load_secret_key(settings: Settings) -> bytes | None:
    """`SEKVENS_SECRET_KEY`; else, on SQLite, the key in `sekvens.secret` next to the database
    (generated with mode 0600 on first run). On PostgreSQL in production a missing key is a
    `SecretKeyError`; in development it is None (the caller uses a per-process key)."""
    if settings.secret_key:
        if len(settings.secret_key) < MIN_SECRET_CHARS:
            raise SecretKeyError(
                f"SEKVENS_SECRET_KEY is too short: use at least {MIN_SECRET_CHARS} random "
                f"characters, for example the output of: {_GENERATE_HINT}"
            )
        return settings.secret_key.encode()
    path = secret_file(settings)
    if path is not None:
        return _read_or_create(path).encode()
    if settings.is_production:
        raise SecretKeyError(
            "SEKVENS_SECRET_KEY is not set. In production on PostgreSQL every API and worker "
            "process must share one secret key (it signs the tracking links in sent email). "
            f"Set SEKVENS_SECRET_KEY to at least {MIN_SECRET_CHARS} random characters, for "
            f"example the output of: {_GENERATE_HINT}"
        )
    return None


def _read(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; run: chmod 600 %s", path, path)
    value = path.read_text().strip()
    if len(value) < MIN_SECRET_CHARS:
        raise SecretKeyError(
            f"{path} holds no usable secret key (at least {MIN_SECRET_CHARS} characters): "
            "delete it to generate a new one, or set SEKVENS_SECRET_KEY."
        )
    return value


def _read_or_create(path: Path) -> str:
    """Read the key file, or publish a new one atomically (a hard link never overwrites, so
    two processes starting at once agree on one key)."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise SecretKeyError(
            f"Can't store a generated secret key in {path} ({exc.strerror}); "
            "set SEKVENS_SECRET_KEY instead."
        ) from exc
    try:
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read(path)
        except OSError:  # a file system without hard links
            os.replace(tmp, path)
        log.info("generated a secret key in %s (keep it: it signs tracking links)", path)
        return value
    finally:
        tmp.unlink(missing_ok=True)


# --- Links -----------------------------------------------------------------------------------

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\""
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_A_TAG = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""(\bhref\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _trim(url: str) -> str:
    """A URL found in prose, without the punctuation that ends the sentence around it."""
    while url and (
        url[-1] in _TRAILING
        or (url[-1] in _CLOSERS and url.count(url[-1]) > url.count(_CLOSERS[url[-1]]))
    ):
        url = url[:-1]
    return url


def _text_urls(text: str) -> Iterable[tuple[int, int, str]]:
    for m in _URL.finditer(text):
        url = _trim(m.group())
        if len(url) > len("https://"):
            yield m.start(), m.start() + len(url), url


def is_web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for name, value in attrs:
                if name == "href" and value and is_web(value.strip()):
                    self.hrefs.add(value.strip())


def message_links(text: str, html: str | None) -> set[str]:
    """The http(s) links of a stored message: URLs in its text, hrefs of its html."""
    links = {url for _, _, url in _text_urls(text)}
    if html:
        parser = _Hrefs()
        parser.feed(html)
        parser.close()
        links |= parser.hrefs
    return links


def text_to_html(text: str) -> str:
    """A plain html rendering of a text body, its URLs as links (so they can be tracked)."""
    parts, pos = [], 0
    for start, end, url in _text_urls(text):
        parts.append(htmllib.escape(text[pos:start]))
        parts.append(f'<a href="{htmllib.escape(url)}">{htmllib.escape(url)}</a>')
        pos = end
    parts.append(htmllib.escape(text[pos:]))
    body = "".join(parts).replace("\r\n", "\n").replace("\n", "<br>\n")
    return f'<!DOCTYPE html>\n<html><body><div dir="auto">{body}</div></body></html>\n'


# --- Tokens and tracked html ---------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Signs and checks tracking tokens and decorates html. Enabled with a public URL; the key
    is read (or generated) on first use, and at app startup through `check`."""

    def __init__(self, settings: Settings, key: bytes | None = None):
        self.settings = settings
        self.base_url = (settings.public_url or "").rstrip("/") or None
        self._key = self._derive(key) if key is not None else None

    @property
    def enabled(self) -> bool:
        return self.base_url is not None

    @staticmethod
    def _derive(secret: bytes) -> bytes:
        """A key of its own for tracking, so the secret key can sign other things too."""
        return hmac.new(secret, b"sekvens/tracking", hashlib.sha256).digest()

    @property
    def key(self) -> bytes:
        if self._key is None:
            secret = load_secret_key(self.settings)
            if secret is None:
                if self.enabled:
                    log.warning(
                        "SEKVENS_SECRET_KEY is not set: tracking links are signed with a key of "
                        "this process only and stop working when it restarts; set it."
                    )
                secret = secrets.token_bytes(32)
            self._key = self._derive(secret)
        return self._key

    def check(self) -> None:
        """Load the key now: a missing or bad key is a startup error, not a failed send."""
        _ = self.key

    def _mac(self, kind: str, message_pk: int, url: str) -> bytes:
        data = b"\x00".join((_VERSION, kind.encode(), str(message_pk).encode(), url.encode()))
        return hmac.new(self.key, data, hashlib.sha256).digest()[:_MAC_BYTES]

    def sign(self, kind: str, message_pk: int, url: str = "") -> str:
        payload = _b64(f"{message_pk}:{url}".encode())
        return f"{payload}.{_b64(self._mac(kind, message_pk, url))}"

    def verify(self, kind: str, token: str) -> tuple[int, str] | None:
        """(outbox message id, url) of a genuine token of `kind`, in the one encoding `sign`
        gives (URL-safe base64 without padding, the id without leading zeros); else None."""
        if len(token) > TOKEN_MAX or token.count(".") != 1 or not token.isascii():
            return None
        try:
            pk_text, sep, url = _unb64(token.split(".")[0]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if not sep or not _MESSAGE_ID.fullmatch(pk_text):
            return None
        expected = self.sign(kind, int(pk_text), url)
        if not hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return int(pk_text), url

    def open_url(self, message_pk: int) -> str:
        return f"{self.base_url}/t/o/{self.sign(OPEN, message_pk)}.gif"

    def click_url(self, message_pk: int, url: str) -> str:
        return f"{self.base_url}/t/c/{self.sign(CLICK, message_pk, url)}"

    def unsubscribe_url(self, message_pk: int) -> str:
        return f"{self.base_url}/t/u/{self.sign(UNSUBSCRIBE, message_pk)}"

    def unsubscribe_headers(self, message_pk: int) -> dict[str, str]:
        """One-click unsubscribe (RFC 8058): the link, and the POST body mail clients send."""
        return {
            "List-Unsubscribe": f"<{self.unsubscribe_url(message_pk)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }

    def unsubscribe_footer(self, message_pk: int, text: str) -> str:
        """The text part with an unsubscribe line at its end."""
        return f"{text.rstrip()}\n\n--\nUnsubscribe: {self.unsubscribe_url(message_pk)}\n"

    def decorate(self, message_pk: int, text: str, html: str | None) -> str:
        """The html part to send: the stored html (or the text rendered as html) with its
        http(s) links rewritten to the click endpoint and the open pixel at the end."""
        source = html if html is not None else text_to_html(text)
        unsubscribe = (
            '<p style="font-size:small;color:#666">'
            f'<a href="{htmllib.escape(self.unsubscribe_url(message_pk))}">Unsubscribe</a></p>'
        )

        def href(m: re.Match[str]) -> str:
            raw = m.group(2)
            url = htmllib.unescape(raw[1:-1] if raw[:1] in "\"'" else raw).strip()
            if not is_web(url):
                return m.group(0)
            return f'{m.group(1)}"{htmllib.escape(self.click_url(message_pk, url))}"'

        tracked = _A_TAG.sub(lambda tag: _HREF.sub(href, tag.group(0), count=1), source)
        pixel = unsubscribe + (
            f'<img src="{htmllib.escape(self.open_url(message_pk))}" width="1" height="1" '
            'alt="" style="display:block;width:1px;height:1px;border:0">'
        )
        ends = list(_BODY_END.finditer(tracked))
        if not ends:
            return tracked + pixel
        at = ends[-1].start()
        return tracked[:at] + pixel + tracked[at:]
