"""Shared GraphQL snippets and helpers for sequence tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

SEQ = "sequence { id key name status steps { id key type name branch parent { key } problems { code } } validation { canActivate problems { code stepKey field } } }"


async def create(api: Api, name: str = "Follow up", **extra: Any) -> dict[str, Any]:
    payload = await api.mutate("createSequence", {"name": name, **extra}, SEQ)
    assert payload["errors"] == [], payload["errors"]
    return payload["sequence"]


async def add(
    api: Api,
    seq: dict[str, Any],
    after_id: str,
    type_: str,
    config: dict[str, Any] | None = None,
    branch: str = "NEXT",
    name: str | None = None,
) -> dict[str, Any]:
    payload = await api.mutate(
        "addStep",
        {
            "sequenceId": seq["id"],
            "afterStepId": after_id,
            "branch": branch,
            "type": type_,
            "config": config or {},
            "name": name,
        },
        f"step {{ id key }} {SEQ}",
    )
    assert payload["errors"] == [], payload["errors"]
    return payload


def start_id(seq: dict[str, Any]) -> str:
    return next(s["id"] for s in seq["steps"] if s["type"] == "core.start")


EMAIL = {"template": {"subject": "Hello {{ first_name }}", "body": "Hi {{ first_name }}, ..."}}
TASK = {"subject": "Book a meeting"}


async def simple_active(api: Api, name: str = "Simple", activate: bool = True) -> dict[str, Any]:
    """A sequence with one task step, activated."""
    seq = await create(api, name)
    await add(api, seq, start_id(seq), "core.task", TASK)
    if activate:
        payload = await api.mutate(
            "activateSequence", {"sequenceId": seq["id"]}, "sequence { status }"
        )
        assert payload["errors"] == [], payload["errors"]
    return seq
