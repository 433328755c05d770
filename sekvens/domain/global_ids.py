"""Global ids: "<Type>:<key>" in URL-safe base64, the form every layer exchanges ids in."""

from __future__ import annotations

import base64
import binascii


def to_global_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, str]:
    """(type name, key), or ("", "") when `global_id` is not one of ours."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "", ""
    return (type_name, pk) if type_name and pk else ("", "")


#: The largest key a table holds (BIGINT on PostgreSQL, INTEGER on SQLite: both 64-bit).
KEY_MAX = 2**63 - 1
#: What a key beyond the range becomes: it names no row, as any unknown key, and the
#: database can compare with it (it would refuse the number itself).
NO_ROW = 0


def key_of(text: str) -> int | None:
    """The integer key in `text` (ASCII digits), or None when `text` is no number. A number
    beyond the keys' range is `NO_ROW`."""
    if not text.isascii() or not text.isdigit():
        return None
    if len(text) > 19:
        return NO_ROW
    value = int(text)
    return value if value <= KEY_MAX else NO_ROW
