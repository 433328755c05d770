"""Reading raw inbound mail leniently: parse any bytes or text, header and part text as str.

The email package keeps undecodable bytes as surrogates and hands such headers back as
`Header` objects; these helpers return plain text instead (UTF-8, else Windows-1252) and
never raise on malformed input.
"""

from __future__ import annotations

import binascii
import quopri
from email.errors import HeaderParseError
from email.generator import BytesGenerator
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.policy import Compat32
from io import BytesIO


class _RawHeaders(Compat32):
    """compat32 parsing, but header values come back as the str that was parsed."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaders()


def message_from(raw: bytes | str) -> Message:
    """The message in `raw` (RFC 5322 bytes, or text as if UTF-8 encoded)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return BytesParser(policy=_POLICY).parsebytes(data)


def text_of(data: bytes, charset: str | None = None) -> str:
    """`data` decoded: by `charset` when Python knows it, else UTF-8, else Windows-1252."""
    if charset:
        try:
            return data.decode(charset, "replace")
        except (LookupError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def header(message: Message, name: str, *, decode_words: bool = False) -> str | None:
    """The first `name` header unfolded (whitespace runs as one space), or None when absent.
    With `decode_words`, RFC 2047 encoded words (`=?utf-8?q?...?=`) are decoded."""
    value = message.get(name)
    if value is None:
        return None
    text = text_of(str(value).encode("utf-8", "surrogateescape"))
    if decode_words and "=?" in text:
        text = _decode_words(text)
    return " ".join(text.split())


def _decode_words(text: str) -> str:
    try:
        chunks = decode_header(text)
    except (HeaderParseError, ValueError):
        return text
    return "".join(
        text_of(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in chunks
    )


def part_text(part: Message) -> str:
    """A part's content as text (transfer encoding undone, charset applied). A `message/*`
    part, which the email package parses into messages, is written back out first."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = _decoded(_written_body(part), transfer_encoding(part))
    return text_of(data, part.get_content_charset())


def transfer_encoding(part: Message) -> str:
    return (header(part, "Content-Transfer-Encoding") or "").lower()


def _written_body(part: Message) -> bytes:
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=_POLICY).flatten(part)
    return buffer.getvalue().partition(b"\n\n")[2]


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            return body
    return quopri.decodestring(body) if encoding == "quoted-printable" else body
