"""Every search takes `_`, `%` and `\\` literally: they are characters, not LIKE wildcards."""

from __future__ import annotations

from typing import Any

from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api

NAMES = ["abc", "a_c", "100% sure", "1000 sure", "back\\slash", "back/slash"]
#: A search and the names it finds.
SEARCHES = {
    "a_c": {"a_c"},
    "A_C": {"a_c"},
    "_": {"a_c"},
    "%": {"100% sure"},
    "0%": {"100% sure"},
    "\\": {"back\\slash"},
    "k\\s": {"back\\slash"},
    "sure": {"100% sure", "1000 sure"},
}


async def found(api: Api, query: str, search: str) -> set[str]:
    data = await api.ok(query, {"s": search})
    [connection] = data.values()
    return {node["name"] for node in connection["nodes"]} & set(NAMES)


async def test_users_search(api: Api) -> None:
    for i, name in enumerate(NAMES):
        payload = await api.mutate(
            "createUser",
            {"email": f"n{i}@example.com", "name": name, "roles": []},
            "user { id }",
        )
        assert payload["errors"] == [], payload
    query = "query($s: String) { users(search: $s) { nodes { name } } }"
    for search, expected in SEARCHES.items():
        assert await found(api, query, search) == expected, search


async def records(api: Api) -> None:
    rows = [{"recordType": "lead", "externalId": f"R{i}", "name": n} for i, n in enumerate(NAMES)]
    payload = await api.mutate("upsertRecords", {"records": rows}, "createdCount")
    assert payload["createdCount"] == len(NAMES), payload


async def test_records_search(api: Api) -> None:
    await records(api)
    query = "query($s: String) { records(first: 100, filter: {search: $s}) { nodes { name } } }"
    for search, expected in SEARCHES.items():
        assert await found(api, query, search) == expected, search


async def test_records_search_in_external_ids(api: Api) -> None:
    rows = [{"recordType": "lead", "externalId": e, "name": "X"} for e in ("ext_1", "extA1")]
    await api.mutate("upsertRecords", {"records": rows}, "createdCount")
    data = await api.ok('{ records(filter: {search: "t_1"}) { nodes { externalId } } }')
    assert [n["externalId"] for n in data["records"]["nodes"]] == ["ext_1"]


async def test_connect_sequence_by_filter_search(api: Api) -> None:
    await records(api)
    seq = await create(api, "By filter")
    await add(api, seq, start_id(seq), "core.task", {"subject": "Call"})
    done = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert done["errors"] == [], done
    matched: dict[str, Any] = {}
    for search in ("a_c", "%", "\\"):
        payload = await api.mutate(
            "connectSequenceByFilter",
            {"sequenceId": seq["id"], "filter": {"recordType": "lead", "search": search}},
            "matchedCount",
        )
        assert payload["errors"] == [], payload
        matched[search] = payload["matchedCount"]
    assert matched == {"a_c": 1, "%": 1, "\\": 1}


async def test_sequences_search(api: Api) -> None:
    for name in NAMES:
        await create(api, name)
    query = "query($s: String) { sequences(search: $s) { nodes { name } } }"
    for search, expected in SEARCHES.items():
        assert await found(api, query, search) == expected, search
