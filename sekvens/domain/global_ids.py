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
