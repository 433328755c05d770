"""The home grid prefetches its page's relations in the root resolver; a sequence reached
another way (`node`, a payload) answers the same fields through the loaders. Both agree,
and the grid's cost follows the page, not the organization (no whole-organization load)."""

from __future__ import annotations

from typing import Any

import pytest

from sekvens.storage import sequences as sequence_store
from sekvens.storage import tags as tag_store
from tests.api.test_query_counts import _make_sequences, count_statements
from tests.conftest import Api

FIELDS = """id name stepCount activeConnections recordType { name } ownerUser { id name }
  tags { id name path depth parent { id name } children { id name } }"""

GRID = f"{{ sequences(first: 50) {{ nodes {{ {FIELDS} }} }} }}"
GRID_EDGES = f"{{ sequences(first: 50) {{ edges {{ node {{ ...F }} }} }} }} fragment F on Sequence {{ {FIELDS} }}"
NODE = f"query($id: ID!) {{ node(id: $id) {{ ... on Sequence {{ {FIELDS} }} }} }}"
# What the benchmark's home grid asks (no validation, no children: nothing per organization).
BENCH_GRID = """{ sequences(first: 50) { pageInfo { hasNextPage endCursor } nodes {
  id key name description status isPersonal createdAt modifiedAt stepCount activeConnections
  recordType { name } ownerUser { id name } tags { id name path } } } }"""


async def _tagged(api: Api) -> list[str]:
    """A three-level tag chain and a first-level tag; two sequences carry tags."""
    region = (await api.mutate("createTag", {"name": "Region"}, "tag { id }"))["tag"]["id"]
    north = (await api.mutate("createTag", {"name": "North", "parentId": region}, "tag { id }"))[
        "tag"
    ]["id"]
    oslo = (await api.mutate("createTag", {"name": "Oslo", "parentId": north}, "tag { id }"))[
        "tag"
    ]["id"]
    await api.mutate("createTag", {"name": "Bergen", "parentId": north}, "tag { id }")
    other = (await api.mutate("createTag", {"name": "Other"}, "tag { id }"))["tag"]["id"]
    await _make_sequences(api, 3)
    ids = [n["id"] for n in (await api.ok(GRID))["sequences"]["nodes"]]
    await api.mutate(
        "setSequenceTags", {"sequenceId": ids[0], "tagIds": [oslo, other]}, "errors { code }"
    )
    await api.mutate(
        "setSequenceTags", {"sequenceId": ids[1], "tagIds": [north]}, "errors { code }"
    )
    return ids


async def test_grid_and_node_agree(api: Api) -> None:
    ids = await _tagged(api)
    grid = (await api.ok(GRID))["sequences"]["nodes"]
    edges = [e["node"] for e in (await api.ok(GRID_EDGES))["sequences"]["edges"]]
    nodes = [(await api.ok(NODE, {"id": i}))["node"] for i in ids]
    assert grid == nodes == edges
    first = grid[0]
    assert [t["path"] for t in first["tags"]] == ["Other", "Region/North/Oslo"]
    assert first["tags"][1]["parent"]["name"] == "North"
    assert [t["name"] for t in grid[1]["tags"][0]["children"]] == ["Bergen", "Oslo"]
    assert first["stepCount"] == 3
    assert first["recordType"] == {"name": "lead"}
    assert first["ownerUser"] is not None


async def test_payload_answers_through_the_loaders(api: Api) -> None:
    ids = await _tagged(api)
    payload = await api.mutate(
        "updateSequence", {"sequenceId": ids[0], "description": "x"}, f"sequence {{ {FIELDS} }}"
    )
    grid = (await api.ok(GRID))["sequences"]["nodes"][0]
    assert payload["sequence"] == grid


async def test_grid_loads_nothing_per_organization(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the organization's tags nor its sequences are loaded for a page."""
    await _tagged(api)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("loaded for the whole organization")

    monkeypatch.setattr(tag_store, "all_tags", refuse)
    monkeypatch.setattr(sequence_store, "infos", refuse)
    data = await api.ok(BENCH_GRID)
    assert len(data["sequences"]["nodes"]) == 3


async def test_grid_statements_do_not_grow_with_the_organization(api: Api) -> None:
    await _tagged(api)
    await api.ok("{ viewer { roles } }")  # the token's last-used time is written once a minute
    with count_statements(api) as small:
        await api.ok(BENCH_GRID)
    for i in range(30):
        await api.mutate("createTag", {"name": f"T{i}"}, "tag { id }")
    await _make_sequences(api, 60)
    with count_statements(api) as large:
        data = await api.ok(BENCH_GRID)
    assert len(data["sequences"]["nodes"]) == 50
    assert len(large) == len(small), (small, large)


ACTIVITY = "id subject record { id name externalId } sequence { id name stepCount }"


async def test_up_next_and_node_agree(api: Api, engine: Any) -> None:
    from tests.api.sequences_helpers import add, create, start_id
    from tests.api.test_engine import connect, leads, seller

    owner_id, token = await seller(api, "kari@example.com")
    seq = await create(api, "Up next")
    await add(api, seq, start_id(seq), "core.task", {"subject": "Do it"})
    activated = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "errors { code }")
    assert activated["errors"] == []
    await connect(api, seq, await leads(api, owner_id, 3))
    await engine.run_until_idle()
    as_seller = api.as_token(token)
    page = (await as_seller.ok(f"{{ upNext(first: 10) {{ nodes {{ {ACTIVITY} }} }} }}"))["upNext"]
    edges = await as_seller.ok(f"{{ upNext(first: 10) {{ edges {{ node {{ {ACTIVITY} }} }} }} }}")
    nodes = [
        (
            await as_seller.ok(
                f"query($id: ID!) {{ node(id: $id) {{ ... on Activity {{ {ACTIVITY} }} }} }}",
                {"id": n["id"]},
            )
        )["node"]
        for n in page["nodes"]
    ]
    assert len(page["nodes"]) == 3
    assert page["nodes"] == nodes == [e["node"] for e in edges["upNext"]["edges"]]
    assert {n["record"]["externalId"] for n in nodes} == {"L0", "L1", "L2"}
    assert nodes[0]["sequence"]["name"] == "Up next"
