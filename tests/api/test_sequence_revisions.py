"""Draft revisions are drafts: a rename waits for activation, a discard restores; clones are
full copies, tags included."""

from __future__ import annotations

from typing import Any

from tests.api.sequences_helpers import TASK, add, simple_active, start_id
from tests.conftest import Api

SEEN = "sequence(id: $id) { name description status draft { number name description } currentVersion { number name description } versions { number status name } steps { type } }"


async def seen(api: Api, seq_id: str) -> dict[str, Any]:
    return (await api.ok(f"query($id: ID!) {{ {SEEN} }}", {"id": seq_id}))["sequence"]


async def grid_names(api: Api, search: str | None = None) -> list[str]:
    data = await api.ok(
        "query($s: String) { sequences(search: $s, orderBy: [{field: NAME}]) { nodes { name description } } }",
        {"s": search},
    )
    return [n["name"] for n in data["sequences"]["nodes"]]


async def revise(api: Api, seq: dict[str, Any]) -> dict[str, Any]:
    payload = await api.mutate(
        "createSequenceRevision", {"sequenceId": seq["id"]}, "sequence { id steps { id type } }"
    )
    assert payload["errors"] == [], payload["errors"]
    return payload["sequence"]


async def test_draft_rename_is_invisible_until_activation(api: Api) -> None:
    seq = await simple_active(api, "Outbound")
    draft = await revise(api, seq)
    renamed = await api.mutate(
        "updateSequence",
        {"sequenceId": seq["id"], "name": "Outbound v2", "description": "Two tasks now"},
        "sequence { name description draft { name description } }",
    )
    assert renamed["errors"] == []
    assert renamed["sequence"] == {
        "name": "Outbound",
        "description": "",
        "draft": {"name": "Outbound v2", "description": "Two tasks now"},
    }
    await add(api, draft, draft["steps"][-1]["id"], "core.task", {"subject": "Second"})

    # Everyone else still sees the running sequence: by id, on the home grid, in search.
    _, seller_token = await api.user(["SALESPERSON"])
    seller = api.as_token(seller_token)
    for viewer in (api, seller):
        now = await seen(viewer, seq["id"])
        assert (now["name"], now["description"]) == ("Outbound", "")
        assert now["currentVersion"] == {"number": 1, "name": "Outbound", "description": ""}
        assert now["draft"] == {"number": 2, "name": "Outbound v2", "description": "Two tasks now"}
        assert await grid_names(viewer) == ["Outbound"]
    assert await grid_names(api, "v2") == []
    assert await grid_names(api, "two tasks") == []

    # A second rename of the draft keeps the description it was given.
    again = await api.mutate(
        "updateSequence",
        {"sequenceId": seq["id"], "name": "Outbound, revised"},
        "sequence { draft { name description } }",
    )
    assert again["sequence"]["draft"] == {
        "name": "Outbound, revised",
        "description": "Two tasks now",
    }

    done = await api.mutate(
        "activateSequence",
        {"sequenceId": seq["id"], "changeDescription": "A second task"},
        "sequence { name description draft { number } }",
    )
    assert done["errors"] == []
    assert done["sequence"] == {
        "name": "Outbound, revised",
        "description": "Two tasks now",
        "draft": None,
    }
    after = await seen(seller, seq["id"])
    assert after["currentVersion"] == {
        "number": 2,
        "name": "Outbound, revised",
        "description": "Two tasks now",
    }
    assert after["versions"] == [
        {"number": 2, "status": "ACTIVE", "name": "Outbound, revised"},
        {"number": 1, "status": "RETIRED", "name": "Outbound"},
    ]
    assert await grid_names(seller) == ["Outbound, revised"]
    assert await grid_names(api, "two tasks") == ["Outbound, revised"]


async def test_inactive_sequence_renames_at_once(api: Api) -> None:
    seq = await simple_active(api, "Plain", activate=False)
    renamed = await api.mutate(
        "updateSequence",
        {"sequenceId": seq["id"], "name": "Plain, renamed"},
        "sequence { name draft { name } }",
    )
    assert renamed["sequence"] == {"name": "Plain, renamed", "draft": {"name": "Plain, renamed"}}
    assert await grid_names(api) == ["Plain, renamed"]
    active = await api.mutate(
        "activateSequence", {"sequenceId": seq["id"]}, "sequence { name currentVersion { name } }"
    )
    assert active["sequence"] == {
        "name": "Plain, renamed",
        "currentVersion": {"name": "Plain, renamed"},
    }


async def test_discard_restores_the_active_version(api: Api) -> None:
    seq = await simple_active(api, "Keep me")
    draft = await revise(api, seq)
    await add(api, draft, start_id(draft), "core.task", TASK)
    await api.mutate(
        "updateSequence", {"sequenceId": seq["id"], "name": "Throw me away"}, "sequence { id }"
    )
    before = await seen(api, seq["id"])
    assert [s["type"] for s in before["steps"]] == ["core.start", "core.task", "core.task"]

    discarded = await api.mutate(
        "discardSequenceRevision",
        {"sequenceId": seq["id"]},
        "sequence { name status draft { number } }",
    )
    assert discarded == {
        "errors": [],
        "sequence": {"name": "Keep me", "status": "ACTIVE", "draft": None},
    }
    after = await seen(api, seq["id"])
    assert after["currentVersion"] == {"number": 1, "name": "Keep me", "description": ""}
    assert after["versions"] == [{"number": 1, "status": "ACTIVE", "name": "Keep me"}]
    assert [s["type"] for s in after["steps"]] == ["core.start", "core.task"]
    assert await grid_names(api) == ["Keep me"]

    # Nothing left to discard; a new revision starts from the active version again.
    twice = await api.mutate(
        "discardSequenceRevision", {"sequenceId": seq["id"]}, "sequence { id }"
    )
    assert [(e["code"], e["field"]) for e in twice["errors"]] == [("NO_DRAFT", ["sequenceId"])]
    assert twice["sequence"] is None
    fresh = await revise(api, seq)
    assert [s["type"] for s in fresh["steps"]] == ["core.start", "core.task"]
    assert (await seen(api, seq["id"]))["draft"] == {
        "number": 2,
        "name": "Keep me",
        "description": "",
    }
    log = await api.ok(
        "query($id: ID!) { sequence(id: $id) { auditLog { nodes { action version } } } }",
        {"id": seq["id"]},
    )
    actions = [n["action"] for n in log["sequence"]["auditLog"]["nodes"]]
    assert "sequence.revision_discarded" in actions


async def test_discard_without_a_draft_is_refused(api: Api, other_api: Api) -> None:
    never_active = await simple_active(api, "Never active", activate=False)
    refused = await api.mutate(
        "discardSequenceRevision", {"sequenceId": never_active["id"]}, "sequence { id }"
    )
    assert [e["code"] for e in refused["errors"]] == ["NO_DRAFT"]
    assert (await seen(api, never_active["id"]))["draft"]["number"] == 1

    active = await simple_active(api, "Active, no draft")
    refused = await api.mutate(
        "discardSequenceRevision", {"sequenceId": active["id"]}, "sequence { id }"
    )
    assert [e["code"] for e in refused["errors"]] == ["NO_DRAFT"]

    await revise(api, active)
    elsewhere = await other_api.mutate(
        "discardSequenceRevision", {"sequenceId": active["id"]}, "sequence { id }"
    )
    assert [e["code"] for e in elsewhere["errors"]] == ["NOT_FOUND"]
    _, seller_token = await api.user(["SALESPERSON"])
    forbidden = await api.as_token(seller_token).mutate(
        "discardSequenceRevision", {"sequenceId": active["id"]}, "sequence { id }"
    )
    assert [e["code"] for e in forbidden["errors"]] == ["FORBIDDEN"]
    assert (await seen(api, active["id"]))["draft"]["number"] == 2


async def test_clone_is_a_full_copy_with_tags(api: Api) -> None:
    seq = await simple_active(api, "Tagged", activate=False)
    ids = []
    for name in ("Outbound", "Q4"):
        tag = await api.mutate("createTag", {"name": name}, "tag { id }")
        ids.append(tag["tag"]["id"])
    child = await api.mutate("createTag", {"name": "EMEA", "parentId": ids[0]}, "tag { id }")
    ids.append(child["tag"]["id"])
    tagged = await api.mutate(
        "setSequenceTags", {"sequenceId": seq["id"], "tagIds": ids}, "sequence { id }"
    )
    assert tagged["errors"] == []
    await api.mutate(
        "setSequenceOptions",
        {"sequenceId": seq["id"], "exitOnReply": True, "skipNonWorkingTime": False},
        "sequence { id }",
    )
    await api.mutate(
        "setSequenceAssignment",
        {"sequenceId": seq["id"], "assignTo": "CURRENT_USER"},
        "sequence { id }",
    )
    await api.mutate(
        "updateSequence", {"sequenceId": seq["id"], "description": "Copy me"}, "sequence { id }"
    )

    fields = "name description status tags { path } options { exitOnReply skipNonWorkingTime } assignment { assignTo } steps { type config }"
    clone = await api.mutate("cloneSequence", {"sequenceId": seq["id"]}, f"sequence {{ {fields} }}")
    assert clone["errors"] == []
    copy = clone["sequence"]
    assert copy["name"] == "Tagged (copy)" and copy["status"] == "INACTIVE"
    assert copy["description"] == "Copy me"
    assert sorted(t["path"] for t in copy["tags"]) == ["Outbound", "Outbound/EMEA", "Q4"]
    assert copy["options"] == {"exitOnReply": True, "skipNonWorkingTime": False}
    assert copy["assignment"] == {"assignTo": "CURRENT_USER"}
    assert [s["type"] for s in copy["steps"]] == ["core.start", "core.task"]

    # Tagged in the home grid like the original, and the original keeps its tags.
    by_tag = await api.ok(
        "query($t: [ID!]) { sequences(filter: {tagIds: $t}) { totalCount } }", {"t": [ids[1]]}
    )
    assert by_tag["sequences"]["totalCount"] == 2
    original = await api.ok(
        "query($id: ID!) { sequence(id: $id) { tags { path } } }", {"id": seq["id"]}
    )
    assert len(original["sequence"]["tags"]) == 3

    # A salesperson's copy (personal) carries the tags too: they apply tags, never create them.
    _, seller_token = await api.user(["SALESPERSON"])
    mine = await api.as_token(seller_token).mutate(
        "cloneSequence",
        {"sequenceId": seq["id"], "name": "Mine"},
        "sequence { isPersonal tags { path } }",
    )
    assert mine["errors"] == []
    assert mine["sequence"]["isPersonal"] is True
    assert len(mine["sequence"]["tags"]) == 3
