"""The home grid filters and sorts on every column (issue 17 item 3: gaps the reference web
app found): the name alone, a team owner, ranges of active connections and of steps, and
sorting by tags; bad ranges are refused at their field."""

from __future__ import annotations

from typing import Any

from tests.api.sequences_helpers import TASK, add, create, start_id
from tests.api.test_engine import connect, leads, seller
from tests.conftest import Api

GRID = """query($f: SequenceFilter, $o: [SequenceOrder!]) {
  sequences(filter: $f, orderBy: $o, first: 100) { nodes { name } } }"""


async def names(
    api: Api, f: dict[str, Any], order: list[dict[str, str]] | None = None
) -> list[str]:
    data = await api.ok(GRID, {"f": f, "o": order})
    return [n["name"] for n in data["sequences"]["nodes"]]


async def with_steps(api: Api, name: str, n: int, description: str = "") -> dict[str, Any]:
    seq = await create(api, name, description=description)
    after = start_id(seq)
    for _ in range(n):
        after = (await add(api, seq, after, "core.task", TASK))["step"]["id"]
    return seq


async def test_name_owner_counts_and_tags(api: Api) -> None:
    one = await with_steps(api, "Alpha outreach", 1, description="about beta")
    two = await with_steps(api, "Beta nurture", 2)
    three = await with_steps(api, "Gamma renewal", 3)
    await api.mutate("activateSequence", {"sequenceId": two["id"]}, "sequence { id }")
    owner_id, _ = await seller(api, "grid@example.com")
    await connect(api, two, await leads(api, owner_id, 2, prefix="G"))
    # name only: "beta" is in Alpha's description, not its name
    assert await names(api, {"name": "BETA"}) == ["Beta nurture"]
    # counts of the newest version's steps and of running connections
    assert await names(api, {"minStepCount": 2}, [{"field": "NAME"}]) == [
        "Beta nurture",
        "Gamma renewal",
    ]
    assert await names(api, {"minStepCount": 2, "maxStepCount": 2}) == ["Beta nurture"]
    assert await names(api, {"minActiveConnections": 1}) == ["Beta nurture"]
    assert await names(api, {"maxActiveConnections": 0}, [{"field": "NAME"}]) == [
        "Alpha outreach",
        "Gamma renewal",
    ]
    # a team owner
    team = await api.mutate("createTeam", {"name": "Grid team", "kind": "OWNER"}, "team { id }")
    team_id = team["team"]["id"]
    owned = await api.mutate(
        "assignSequenceOwner",
        {"sequenceId": three["id"], "teamId": team_id},
        "sequence { id }",
    )
    assert owned["errors"] == []
    assert await names(api, {"ownerId": team_id}) == ["Gamma renewal"]
    # sorting by tags: by the first tag's name, untagged first
    tags = {}
    for name in ("zeta", "eta"):
        payload = await api.mutate("createTag", {"name": name}, "tag { id }")
        tags[name] = payload["tag"]["id"]
    for seq, tag in ((one, "zeta"), (two, "eta")):
        done = await api.mutate(
            "setSequenceTags", {"sequenceId": seq["id"], "tagIds": [tags[tag]]}, "sequence { id }"
        )
        assert done["errors"] == []
    assert await names(api, {}, [{"field": "TAGS"}, {"field": "NAME"}]) == [
        "Gamma renewal",
        "Beta nurture",
        "Alpha outreach",
    ]


async def test_bad_ranges_are_refused_at_their_field(api: Api) -> None:
    for f, field in (
        ({"minStepCount": -1}, ["filter", "minStepCount"]),
        ({"maxActiveConnections": -2}, ["filter", "maxActiveConnections"]),
        ({"minStepCount": 3, "maxStepCount": 2}, ["filter", "maxStepCount"]),
        ({"ownerId": "not-an-id"}, ["filter", "ownerId"]),
        ({"name": "x" * 1000}, ["filter", "name"]),
    ):
        body = await api.gql(GRID, {"f": f})
        error = body["errors"][0]
        assert error["extensions"]["code"] in ("INVALID_VALUE", "NOT_FOUND", "TOO_LONG"), body
        assert error["extensions"]["field"] == field, (f, error)


async def test_step_count_ranges_match_a_reference(api: Api) -> None:
    """Every range of step counts gives exactly the sequences a plain count says it should."""
    counts = {f"Steps {n}": n for n in range(5)}
    for name, n in counts.items():
        await with_steps(api, name, n)

    cases = [
        (a, b)
        for a in (None, 0, 1, 3, 5)
        for b in (None, 0, 2, 4)
        if a is None or b is None or a <= b
    ]
    for at_least, at_most in cases:
        f = {"minStepCount": at_least, "maxStepCount": at_most, "name": "Steps"}
        expected = sorted(
            name
            for name, n in counts.items()
            if (at_least is None or n >= at_least) and (at_most is None or n <= at_most)
        )
        assert await names(api, f, [{"field": "NAME"}]) == expected, (at_least, at_most)
