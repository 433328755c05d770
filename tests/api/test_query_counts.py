"""No N+1: list and designer queries run a fixed number of SQL statements, whatever the size."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event, select

from sekvens.authoring import sequences as authoring
from sekvens.domain.roles import Actor, Role
from sekvens.domain.sequence_graph import START_TYPE, Step
from sekvens.plugins.registry import Registry
from sekvens.storage.tables import User
from tests.conftest import Api

GRID = """{ sequences(first: 100) { totalCount nodes {
  id name status isPersonal stepCount activeConnections createdAt modifiedAt
  recordType { name } ownerUser { name } tags { name path }
  validation { canActivate problems { code stepId } }
} } }"""

DESIGNER = """query($id: ID!) { sequence(id: $id) {
  name validation { canActivate }
  steps { id key type category name config branch depth next { id } yes { id } no { id } problems { code } }
  versions { number status }
} }"""


@contextlib.contextmanager
def count_statements(api: Api) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = api.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _steps(n: int) -> list[Step]:
    steps = [Step("s", START_TYPE, "Start")]
    parent = "s"
    for i in range(n):
        key = f"t{i}"
        kind = ("core.task", {"subject": f"Task {i}"}) if i % 2 == 0 else ("email.manual", {})
        steps.append(Step(key, kind[0], f"Step {i}", "", kind[1], parent, "NEXT"))
        parent = key
    return steps


async def _make_sequences(api: Api, count: int, steps: int = 3) -> list[int]:
    registry = Registry.from_entry_points()
    async with api.db.session(write=True) as session, session.begin():
        admin_id = await session.scalar(select(User.id).where(User.organization_id == api.org_id))
        actor = Actor(admin_id, api.org_id, frozenset({Role.SYSTEM_ADMINISTRATOR}))
        ids = []
        for i in range(count):
            seq = await authoring.create(
                session, registry, actor, f"Seq {i}", "d", "lead", False, _steps(steps)
            )
            ids.append(seq.id)
        return ids


async def test_home_grid_statements_do_not_grow(api: Api, other_api: Api) -> None:
    tag = await api.mutate("createTag", {"name": "Region"}, "tag { id }")
    await _make_sequences(api, 10)
    await api.ok("{ viewer { roles } }")  # the token's last-used time is written once a minute
    with count_statements(api) as small:
        data = await api.ok(GRID)
    assert data["sequences"]["totalCount"] == 10
    page = await api.ok("{ sequences(first: 10) { nodes { id } } }")
    await api.mutate(
        "setSequenceTags",
        {"sequenceId": page["sequences"]["nodes"][0]["id"], "tagIds": [tag["tag"]["id"]]},
        "sequence { id }",
    )
    await _make_sequences(api, 90)
    with count_statements(api) as large:
        data = await api.ok(GRID)
    assert data["sequences"]["totalCount"] == 100
    assert len(data["sequences"]["nodes"]) == 100
    assert len(large) == len(small), (len(small), len(large))
    assert len(large) <= 20


async def test_designer_statements_do_not_grow(api: Api) -> None:
    from sekvens.schema.relay import to_global_id

    small_id, large_id = (
        (await _make_sequences(api, 1, 4))[0],
        (await _make_sequences(api, 1, 40))[0],
    )
    await api.ok("{ viewer { roles } }")  # the token's last-used time is written once a minute
    with count_statements(api) as small:
        data = await api.ok(DESIGNER, {"id": to_global_id("Sequence", small_id)})
    assert len(data["sequence"]["steps"]) == 5
    with count_statements(api) as large:
        data = await api.ok(DESIGNER, {"id": to_global_id("Sequence", large_id)})
    assert len(data["sequence"]["steps"]) == 41
    assert len(large) == len(small), (len(small), len(large))


async def test_steps_without_problems_load_no_checker(api: Api) -> None:
    """The step tree alone does not read what validation needs (the organization's record
    types and every sequence of it); asking for problems adds exactly that."""
    from sekvens.schema.relay import to_global_id

    seq_id = (await _make_sequences(api, 1, 6))[0]
    await _make_sequences(api, 5)
    tree = """query($id: ID!) { sequence(id: $id) {
      name steps { id key type name depth next { id } } } }"""
    variables = {"id": to_global_id("Sequence", seq_id)}
    await api.ok("{ viewer { roles } }")  # the token's last-used time is written once a minute
    with count_statements(api) as bare_tree:
        data = await api.ok(tree, variables)
    assert len(data["sequence"]["steps"]) == 7
    with_problems = tree.replace("next { id }", "next { id } problems { code }")
    with count_statements(api) as checked:
        data = await api.ok(with_problems, variables)
    assert all(s["problems"] == [] for s in data["sequence"]["steps"])
    assert not any("record_fields" in s for s in bare_tree), bare_tree
    assert any("record_fields" in s for s in checked), checked
    assert len(checked) > len(bare_tree)
