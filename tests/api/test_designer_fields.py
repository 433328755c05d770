"""What a designer front end needs to show without repeating the server's rules: a step's
problems include the sequence's problems that name it, and `viewerMayEdit` says whether the
viewer may change a sequence (issue 17: gaps the reference web app found)."""

from __future__ import annotations

from typing import Any

import pytest

from sekvens.authoring.checks import Checker
from tests.api.sequences_helpers import TASK, add, create, start_id
from tests.conftest import Api

MAY_EDIT = "query($id: ID!) { sequence(id: $id) { viewerMayEdit } }"


async def test_a_trailing_wait_shows_its_problem_on_the_wait(api: Api) -> None:
    seq = await create(api, "Trailing wait")
    task = (await add(api, seq, start_id(seq), "core.task", TASK))["step"]
    payload = await add(api, seq, task["id"], "core.wait", {"days": 2})
    steps = {s["key"]: s for s in payload["sequence"]["steps"]}
    wait = steps[payload["step"]["key"]]
    assert [p["code"] for p in wait["problems"]] == ["ENDS_WITH_WAIT"]
    assert steps[task["key"]]["problems"] == []
    named = [p for p in payload["sequence"]["validation"]["problems"] if p["stepKey"]]
    assert [(p["code"], p["stepKey"]) for p in named] == [("ENDS_WITH_WAIT", wait["key"])]


async def test_viewer_may_edit_follows_the_roles(api: Api) -> None:
    shared = await create(api, "Organization sequence")
    _, seller_token = await api.user(["SALESPERSON"])
    _, other_token = await api.user(["SALESPERSON"])
    _, sales_manager_token = await api.user(["SALES_MANAGER"])
    _, sequence_manager_token = await api.user(["SEQUENCE_MANAGER"])
    seller = api.as_token(seller_token)
    personal = await create(seller, "Mine", isPersonal=True)

    async def may(caller: Api, seq: dict[str, str]) -> bool:
        return bool((await caller.ok(MAY_EDIT, {"id": seq["id"]}))["sequence"]["viewerMayEdit"])

    assert await may(api, shared) and await may(api, personal)  # an administrator
    assert not await may(seller, shared)
    assert await may(seller, personal)
    assert not await may(api.as_token(other_token), shared)
    assert await may(api.as_token(sales_manager_token), shared)
    assert not await may(api.as_token(sales_manager_token), personal)
    assert await may(api.as_token(sequence_manager_token), personal)
    # What the field says is what the mutations do.
    refused = await api.as_token(sales_manager_token).mutate(
        "updateSequence", {"sequenceId": personal["id"], "name": "Theirs"}, "sequence { id }"
    )
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    allowed = await seller.mutate(
        "updateSequence", {"sequenceId": personal["id"], "name": "Still mine"}, "sequence { id }"
    )
    assert allowed["errors"] == []


async def test_a_design_s_problems_are_checked_once_whatever_the_steps(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step's `problems` reads the design's problems, checked once per design (not once
    per step, which made a long sequence's designer query quadratic)."""
    seq = await create(api, "Long")
    after = start_id(seq)
    for _ in range(12):
        after = (await add(api, seq, after, "core.task", TASK))["step"]["id"]
    calls = []
    real = Checker.problems

    def counted(self: Checker, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Checker, "problems", counted)
    data = await api.ok(
        "query($id: ID!) { sequence(id: $id) { steps { key problems { code } }"
        " validation { problems { code } } } }",
        {"id": seq["id"]},
    )
    assert len(data["sequence"]["steps"]) == 13
    assert len(calls) == 1
