"""Tags: the tree, its limits, and the tags of sequences."""

from __future__ import annotations

import uuid

from sqlalchemy import event, insert, select, update

from sekvens.schema.relay import decode_id, to_global_id
from sekvens.storage.tables import AuditEntry, Organization, RecordType, Sequence, SequenceTag, Tag
from tests.conftest import Api

TAG = "tag { id name path depth parent { name } children { name } }"
SEQUENCE_TAGS = "query($id: ID!) { node(id: $id) { ... on Sequence { tags { id path } } } }"


def codes(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def create(api: Api, name: str, parent: str | None = None) -> dict:
    payload = await api.mutate("createTag", {"name": name, "parentId": parent}, TAG)
    assert payload["errors"] == [], payload["errors"]
    return payload["tag"]


async def add_sequence(
    api: Api, *, personal: bool = False, owner_user_id: int | None = None, name: str = "S"
) -> str:
    """A sequence row written directly (tags don't depend on its design)."""
    async with api.db.session(write=True) as session, session.begin():
        record_type = await session.scalar(
            select(RecordType.id).where(
                RecordType.organization_id == api.org_id, RecordType.name == "lead"
            )
        )
        seq = Sequence(
            organization_id=api.org_id,
            key=uuid.uuid4().hex,
            name=name,
            record_type_id=record_type,
            is_personal=personal,
            owner_user_id=owner_user_id,
        )
        session.add(seq)
        await session.flush()
        return to_global_id("Sequence", seq.id)


async def tags_of(api: Api, sequence_id: str) -> list[str]:
    data = await api.ok(SEQUENCE_TAGS, {"id": sequence_id})
    return [t["path"] for t in data["node"]["tags"]]


async def test_nested_tags_and_the_tree(api: Api) -> None:
    region = await create(api, "  Region ")
    nordics = await create(api, "Nordics", region["id"])
    norway = await create(api, "Norway", nordics["id"])
    oslo = await create(api, "Oslo", norway["id"])
    await create(api, "Europe", region["id"])
    await create(api, "Product")
    assert region["name"] == "Region" and region["depth"] == 1 and region["parent"] is None
    assert oslo == {
        "id": oslo["id"],
        "name": "Oslo",
        "path": "Region/Nordics/Norway/Oslo",
        "depth": 4,
        "parent": {"name": "Norway"},
        "children": [],
    }
    tree = await api.ok("{ tags { path depth children { name } } }")
    assert [t["path"] for t in tree["tags"]] == [
        "Product",
        "Region",
        "Region/Europe",
        "Region/Nordics",
        "Region/Nordics/Norway",
        "Region/Nordics/Norway/Oslo",
    ]
    assert tree["tags"][1]["children"] == [{"name": "Europe"}, {"name": "Nordics"}]
    level = await api.ok("query($p: ID!) { tags(parentId: $p) { name } }", {"p": region["id"]})
    assert level["tags"] == [{"name": "Europe"}, {"name": "Nordics"}]
    node = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Tag { path } } }", {"id": norway["id"]}
    )
    assert node["node"] == {"path": "Region/Nordics/Norway"}


async def test_limits(api: Api) -> None:
    a = await create(api, "A")
    b = await create(api, "B", a["id"])
    c = await create(api, "C", b["id"])
    d = await create(api, "D", c["id"])
    fifth = await api.mutate("createTag", {"name": "E", "parentId": d["id"]}, TAG)
    assert codes(fifth) == [("TAG_TOO_DEEP", ["parentId"])]
    assert fifth["tag"] is None
    slash = await api.mutate("createTag", {"name": "Inbound/Outbound"}, TAG)
    assert codes(slash) == [("TAG_NAME_INVALID", ["name"])]
    empty = await api.mutate("createTag", {"name": "  "}, TAG)
    assert codes(empty) == [("REQUIRED", ["name"])]
    long = await api.mutate("createTag", {"name": "x" * 101}, TAG)
    assert codes(long) == [("TOO_LONG", ["name"])]
    twin = await api.mutate("createTag", {"name": "b", "parentId": a["id"]}, TAG)
    assert codes(twin) == [("DUPLICATE", ["name"])]
    # The same name at another level is fine.
    await create(api, "B")


async def test_at_most_100_tags_under_one_parent(api: Api) -> None:
    parent = await create(api, "Campaigns")
    async with api.db.session(write=True) as session, session.begin():
        parent_pk = await session.scalar(
            select(Tag.id).where(Tag.organization_id == api.org_id, Tag.name == "Campaigns")
        )
        await session.execute(
            insert(Tag),
            [
                {"organization_id": api.org_id, "parent_id": parent_pk, "name": f"c{i:03}"}
                for i in range(99)
            ],
        )
    await create(api, "c099", parent["id"])  # the 100th
    extra = await api.mutate("createTag", {"name": "c100", "parentId": parent["id"]}, TAG)
    assert codes(extra) == [("TAG_TOO_MANY_CHILDREN", ["parentId"])]
    # The first level is not limited.
    async with api.db.session(write=True) as session, session.begin():
        await session.execute(
            insert(Tag), [{"organization_id": api.org_id, "name": f"r{i:03}"} for i in range(100)]
        )
    await create(api, "one more root")


async def test_rename_and_move(api: Api) -> None:
    region = await create(api, "Region")
    nordics = await create(api, "Nordics", region["id"])
    norway = await create(api, "Norway", nordics["id"])
    await create(api, "Oslo", norway["id"])
    product = await create(api, "Product")
    await create(api, "Europe", region["id"])

    renamed = await api.mutate("updateTag", {"tagId": nordics["id"], "name": "Scandinavia"}, TAG)
    assert renamed["tag"]["path"] == "Region/Scandinavia"
    clash = await api.mutate("updateTag", {"tagId": nordics["id"], "name": "europe"}, TAG)
    assert codes(clash) == [("DUPLICATE", ["name"])]
    slash = await api.mutate("updateTag", {"tagId": nordics["id"], "name": "a/b"}, TAG)
    assert codes(slash) == [("TAG_NAME_INVALID", ["name"])]

    moved = await api.mutate("updateTag", {"tagId": norway["id"], "parentId": product["id"]}, TAG)
    assert moved["errors"] == []
    assert moved["tag"]["path"] == "Product/Norway"
    assert moved["tag"]["children"] == [{"name": "Oslo"}]
    paths = [t["path"] for t in (await api.ok("{ tags { path } }"))["tags"]]
    assert "Product/Norway/Oslo" in paths

    cycle = await api.mutate("updateTag", {"tagId": product["id"], "parentId": norway["id"]}, TAG)
    assert codes(cycle) == [("INVALID_VALUE", ["parentId"])]
    # Region/Scandinavia/Norway(/Oslo) would put Oslo on level 4: fine; one level deeper is not.
    deep = await create(api, "Deep", nordics["id"])
    deeper = await create(api, "Deeper", deep["id"])
    too_deep = await api.mutate("updateTag", {"tagId": norway["id"], "parentId": deeper["id"]}, TAG)
    assert codes(too_deep) == [("TAG_TOO_DEEP", ["parentId"])]

    to_root = await api.mutate("updateTag", {"tagId": norway["id"], "moveToRoot": True}, TAG)
    assert to_root["tag"]["path"] == "Norway"
    assert to_root["tag"]["depth"] == 1
    both = await api.mutate(
        "updateTag", {"tagId": norway["id"], "moveToRoot": True, "parentId": region["id"]}, TAG
    )
    assert codes(both) == [("INVALID_VALUE", ["moveToRoot"])]


async def test_delete_lifts_children_and_leaves_sequences(api: Api) -> None:
    region = await create(api, "Region")
    nordics = await create(api, "Nordics", region["id"])
    norway = await create(api, "Norway", nordics["id"])
    await create(api, "Oslo", norway["id"])
    await create(api, "Sweden", nordics["id"])
    seq = await add_sequence(api)
    tagged = await api.mutate(
        "setSequenceTags",
        {"sequenceId": seq, "tagIds": [nordics["id"], region["id"]]},
        "sequence { id } tags { path }",
    )
    assert tagged["errors"] == []
    assert tagged["sequence"] == {"id": seq}
    assert tagged["tags"] == [{"path": "Region"}, {"path": "Region/Nordics"}]

    deleted = await api.mutate(
        "deleteTag", {"tagId": nordics["id"]}, "deletedTagId liftedTags { path }"
    )
    assert deleted["errors"] == []
    assert deleted["deletedTagId"] == nordics["id"]
    assert deleted["liftedTags"] == [{"path": "Region/Norway"}, {"path": "Region/Sweden"}]
    paths = [t["path"] for t in (await api.ok("{ tags { path } }"))["tags"]]
    assert paths == ["Region", "Region/Norway", "Region/Norway/Oslo", "Region/Sweden"]
    assert await tags_of(api, seq) == ["Region"]
    gone = await api.mutate("deleteTag", {"tagId": nordics["id"]}, "deletedTagId")
    assert codes(gone) == [("NOT_FOUND", ["tagId"])]


async def test_delete_refuses_a_name_clash_one_level_up(api: Api) -> None:
    region = await create(api, "Region")
    nested = await create(api, "Europe", region["id"])
    await create(api, "europe")
    refused = await api.mutate("deleteTag", {"tagId": region["id"]}, "deletedTagId")
    assert codes(refused) == [("DUPLICATE", ["tagId"])]
    assert refused["deletedTagId"] is None
    await api.mutate("updateTag", {"tagId": nested["id"], "name": "Europe (region)"}, TAG)
    done = await api.mutate("deleteTag", {"tagId": region["id"]}, "liftedTags { path }")
    assert done["liftedTags"] == [{"path": "Europe (region)"}]


async def test_salesperson_applies_but_does_not_create_tags(api: Api) -> None:
    tag = await create(api, "Outbound")
    seller_id, seller_token = await api.user(["SALESPERSON"])
    seller = api.as_token(seller_token)

    refused = await seller.mutate("createTag", {"name": "Mine"}, TAG)
    assert codes(refused) == [("FORBIDDEN", None)]
    assert "SEQUENCE_MANAGER" in refused["errors"][0]["message"]
    for name, input in [
        ("updateTag", {"tagId": tag["id"], "name": "X"}),
        ("deleteTag", {"tagId": tag["id"]}),
    ]:
        payload = await seller.mutate(name, input, "__typename")
        assert codes(payload) == [("FORBIDDEN", None)]

    own = await add_sequence(api, personal=True, owner_user_id=seller_id)
    applied = await seller.mutate(
        "setSequenceTags", {"sequenceId": own, "tagIds": [tag["id"]]}, "tags { name }"
    )
    assert applied["errors"] == []
    assert applied["tags"] == [{"name": "Outbound"}]
    assert await tags_of(seller, own) == ["Outbound"]

    org_sequence = await add_sequence(api)
    not_theirs = await seller.mutate(
        "setSequenceTags", {"sequenceId": org_sequence, "tagIds": [tag["id"]]}, "tags { name }"
    )
    assert codes(not_theirs) == [("FORBIDDEN", None)]
    colleague_id, _ = await api.user(["SALESPERSON"])
    colleague_sequence = await add_sequence(api, personal=True, owner_user_id=colleague_id)
    other = await seller.mutate(
        "setSequenceTags", {"sequenceId": colleague_sequence, "tagIds": []}, "tags { name }"
    )
    assert codes(other) == [("FORBIDDEN", None)]

    # A sequence manager creates tags and tags anyone's personal sequence.
    _, manager_token = await api.user(["SEQUENCE_MANAGER"])
    manager = api.as_token(manager_token)
    assert (await manager.mutate("createTag", {"name": "Inbound"}, TAG))["errors"] == []
    cleared = await manager.mutate(
        "setSequenceTags", {"sequenceId": own, "tagIds": []}, "tags { name }"
    )
    assert cleared == {"errors": [], "tags": []}


async def test_set_sequence_tags_replaces_and_is_audited(api: Api) -> None:
    a = await create(api, "A")
    b = await create(api, "B", a["id"])
    c = await create(api, "C")
    seq = await add_sequence(api)
    async with api.db.session(write=True) as session, session.begin():
        await session.execute(
            update(Sequence)
            .where(Sequence.id == decode_id(seq, "Sequence"))
            .values(status="ACTIVE")
        )
    first = await api.mutate(
        "setSequenceTags",
        {"sequenceId": seq, "tagIds": [c["id"], b["id"], b["id"]]},
        "tags { path }",
    )
    assert first["errors"] == []  # an active sequence can be tagged: tags aren't design
    assert first["tags"] == [{"path": "A/B"}, {"path": "C"}]
    second = await api.mutate(
        "setSequenceTags", {"sequenceId": seq, "tagIds": [a["id"], c["id"]]}, "tags { path }"
    )
    assert second["tags"] == [{"path": "A"}, {"path": "C"}]
    assert await tags_of(api, seq) == ["A", "C"]
    async with api.db.session() as session:
        rows = list(
            await session.execute(
                select(SequenceTag.tag_id).where(
                    SequenceTag.sequence_id == decode_id(seq, "Sequence")
                )
            )
        )
    assert len(rows) == 2


async def test_other_organizations_ids_are_not_found(api: Api, other_api: Api) -> None:
    mine = await create(api, "Mine")
    theirs = await create(other_api, "Theirs")
    their_sequence = await add_sequence(other_api)
    my_sequence = await add_sequence(api)

    for payload in [
        await api.mutate("updateTag", {"tagId": theirs["id"], "name": "X"}, TAG),
        await api.mutate("deleteTag", {"tagId": theirs["id"]}, "deletedTagId"),
    ]:
        assert codes(payload) == [("NOT_FOUND", ["tagId"])]
    nested = await api.mutate("createTag", {"name": "X", "parentId": theirs["id"]}, TAG)
    assert codes(nested) == [("NOT_FOUND", ["parentId"])]
    moved = await api.mutate("updateTag", {"tagId": mine["id"], "parentId": theirs["id"]}, TAG)
    assert codes(moved) == [("NOT_FOUND", ["parentId"])]
    foreign_tag = await api.mutate(
        "setSequenceTags",
        {"sequenceId": my_sequence, "tagIds": [mine["id"], theirs["id"]]},
        "tags { name }",
    )
    assert codes(foreign_tag) == [("NOT_FOUND", ["tagIds", "1"])]
    assert await tags_of(api, my_sequence) == []
    foreign_sequence = await api.mutate(
        "setSequenceTags", {"sequenceId": their_sequence, "tagIds": [mine["id"]]}, "tags { name }"
    )
    assert codes(foreign_sequence) == [("NOT_FOUND", ["sequenceId"])]
    not_a_tag = await api.mutate(
        "setSequenceTags", {"sequenceId": my_sequence, "tagIds": [my_sequence]}, "tags { name }"
    )
    assert codes(not_a_tag) == [("NOT_FOUND", ["tagIds", "0"])]

    node = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Tag { name } } }", {"id": theirs["id"]}
    )
    assert node["node"] is None
    assert [t["name"] for t in (await api.ok("{ tags { name } }"))["tags"]] == ["Mine"]
    body = await api.gql("query($p: ID!) { tags(parentId: $p) { name } }", {"p": theirs["id"]})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_feature_disabled(api: Api) -> None:
    tag = await create(api, "T")
    seq = await add_sequence(api)
    async with api.db.session(write=True) as session, session.begin():
        await session.execute(
            update(Organization)
            .where(Organization.id == api.org_id)
            .values(sequences_enabled=False)
        )
    created = await api.mutate("createTag", {"name": "U"}, TAG)
    assert codes(created) == [("FEATURE_DISABLED", None)]
    applied = await api.mutate(
        "setSequenceTags", {"sequenceId": seq, "tagIds": [tag["id"]]}, "tags { name }"
    )
    assert codes(applied) == [("FEATURE_DISABLED", None)]
    body = await api.gql("{ tags { name } }")
    assert body["errors"][0]["extensions"]["code"] == "FEATURE_DISABLED"


async def test_home_grid_filters_by_a_tag_and_its_sub_tags(api: Api) -> None:
    region = await create(api, "Region")
    nordics = await create(api, "Nordics", region["id"])
    other = await create(api, "Other")
    s1 = await add_sequence(api, name="Tagged with the parent")
    s2 = await add_sequence(api, name="Tagged with the child")
    s3 = await add_sequence(api, name="Tagged otherwise")
    await add_sequence(api, name="Untagged")
    for seq, tag in [(s1, region), (s2, nordics), (s3, other)]:
        await api.mutate(
            "setSequenceTags", {"sequenceId": seq, "tagIds": [tag["id"]]}, "tags { id }"
        )

    async def names(tag_ids: list[str]) -> list[str]:
        data = await api.ok(
            "query($t: [ID!]) { sequences(filter: {tagIds: $t}) { totalCount nodes { name } } }",
            {"t": tag_ids},
        )
        assert data["sequences"]["totalCount"] == len(data["sequences"]["nodes"])
        return sorted(n["name"] for n in data["sequences"]["nodes"])

    assert await names([region["id"]]) == ["Tagged with the child", "Tagged with the parent"]
    assert await names([nordics["id"]]) == ["Tagged with the child"]
    assert await names([nordics["id"], other["id"]]) == [
        "Tagged otherwise",
        "Tagged with the child",
    ]


async def test_audit(api: Api) -> None:
    tag = await create(api, "Audited")
    await api.mutate("updateTag", {"tagId": tag["id"], "name": "Renamed"}, TAG)
    seq = await add_sequence(api)
    await api.mutate("setSequenceTags", {"sequenceId": seq, "tagIds": [tag["id"]]}, "tags { id }")
    await api.mutate("deleteTag", {"tagId": tag["id"]}, "deletedTagId")
    async with api.db.session() as session:
        entries = list(
            await session.execute(
                select(AuditEntry.action, AuditEntry.detail)
                .where(AuditEntry.organization_id == api.org_id)
                .order_by(AuditEntry.id)
            )
        )
    assert [a for a, _ in entries] == [
        "tag.created",
        "tag.updated",
        "sequence.tags_set",
        "tag.deleted",
    ]
    assert entries[1][1] == {"before": "Audited", "after": "Renamed"}
    assert entries[2][1] == {"added": ["Renamed"], "removed": []}
    assert entries[3][1]["sequences"] == 1


async def test_tags_of_a_page_cost_a_fixed_number_of_statements(api: Api) -> None:
    region = await create(api, "Region")
    nordics = await create(api, "Nordics", region["id"])
    query = "{ sequences(first: 100) { nodes { name tags { path parent { name } children { name } } } } }"

    async def statements() -> int:
        count = 0

        def counted(*_: object) -> None:
            nonlocal count
            count += 1

        engine = api.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", counted)
        try:
            data = await api.ok(query)
        finally:
            event.remove(engine, "before_cursor_execute", counted)
        for node in data["sequences"]["nodes"]:
            assert [t["path"] for t in node["tags"]] == ["Region", "Region/Nordics"]
        return count

    async def add(n: int) -> None:
        for _ in range(n):
            seq = await add_sequence(api)
            await api.mutate(
                "setSequenceTags",
                {"sequenceId": seq, "tagIds": [nordics["id"], region["id"]]},
                "tags { id }",
            )

    await add(2)
    few = await statements()
    await add(10)
    assert await statements() == few
