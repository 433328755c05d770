"""Templates: every built-in creates a sequence that activates unchanged; organizations save
their own. Runs against the real plugin registry, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from sekvens.authoring import sequences, templates
from sekvens.domain.errors import DomainError
from sekvens.domain.record_type_defaults import DEFAULT_RECORD_TYPES
from sekvens.domain.roles import Actor, Role
from sekvens.domain.sequence_graph import SequenceGraph
from sekvens.domain.templates import render_template
from sekvens.plugins.registry import Registry
from sekvens.storage import organizations, users
from sekvens.storage.db import Database
from sekvens.storage.tables import AuditEntry, Organization, Sequence

REGISTRY = Registry.from_entry_points()

#: domain.md, "Templates and tags": record type, steps (without waits), days.
EXPECTED = {
    "builtin:no-show-follow-up": ("contact", 7, 5),
    "builtin:high-volume-prospecting": ("lead", 7, 9),
    "builtin:event-invitation": ("contact", 6, 5),
    "builtin:demo-request-meeting": ("opportunity", 9, 5),
    "builtin:account-renewal": ("account", 13, 50),
    "builtin:webinar-follow-up": ("lead", 10, 7),
}


async def new_actor(db: Database, roles: tuple[Role, ...] = (Role.SYSTEM_ADMINISTRATOR,)) -> Actor:
    """A user of a fresh organization."""
    async with db.session(write=True) as session, session.begin():
        org = await organizations.create_organization(session, f"Org {uuid.uuid4().hex[:8]}")
        user = await users.create_user(
            session,
            org,
            f"u{uuid.uuid4().hex[:8]}@example.com",
            "Manager",
            [r.value for r in roles],
        )
        return Actor(user.id, org.id, frozenset(roles))


async def add_user(db: Database, actor: Actor, roles: tuple[Role, ...]) -> Actor:
    async with db.session(write=True) as session, session.begin():
        org = await session.get(Organization, actor.organization_id)
        assert org is not None
        user = await users.create_user(
            session, org, f"u{uuid.uuid4().hex[:8]}@example.com", "User", [r.value for r in roles]
        )
        return Actor(user.id, org.id, frozenset(roles))


def test_builtins_match_the_product() -> None:
    found = {t.id: (t.record_type, t.step_count, t.duration) for t in templates.builtin_templates()}
    assert found == {k: (rt, n, timedelta(days=d)) for k, (rt, n, d) in EXPECTED.items()}


@pytest.mark.parametrize("template_id", list(EXPECTED))
def test_builtin_is_a_tree_in_designer_order(template_id: str) -> None:
    template = templates.builtin_template(template_id)
    assert template is not None and template.is_builtin
    assert template.name and template.description
    graph = SequenceGraph(template.steps, REGISTRY.shape)
    graph.check()
    assert [s.key for s in graph.to_list()] == [s.key for s in template.steps]
    assert template.steps[0].type == "core.start"
    assert all(REGISTRY.get(s.type) is not None for s in template.steps)


def test_builtins_use_conditions_on_both_branches() -> None:
    """Some templates test an email and some a call, each with both paths designed."""
    used: set[str] = set()
    for template in templates.builtin_templates():
        graph = SequenceGraph(template.steps, REGISTRY.shape)
        for step in template.steps:
            if step.type in ("email.condition", "call.condition"):
                assert graph.follower(step.key, "YES") is not None, (template.id, step.key)
                if graph.follower(step.key, "NO") is not None:
                    used.add(step.type)
    assert used == {"email.condition", "call.condition"}


def test_builtin_texts_render_for_a_record() -> None:
    """Every email, script and message renders, with and without field values."""
    types = {t.name: t for t in DEFAULT_RECORD_TYPES}
    for template in templates.builtin_templates():
        fields = types[template.record_type].fields
        for values in (
            dict.fromkeys(fields),
            {name: "2030-01-31" if "date" in name else "Ada" for name in fields},
        ):
            context: dict[str, Any] = {
                **values,
                "record": {"name": "Ada Lovelace", "external_id": "x-1"},
                "sender": {"email": "seller@example.com"},
            }
            for step in template.steps:
                config = step.config
                texts = [
                    *(config.get("template") or {}).values(),
                    config.get("script", ""),
                    config.get("message", ""),
                ]
                for text in texts:
                    rendered = render_template(text, context)
                    assert "{{" not in rendered and "None" not in rendered, (template.id, step.key)


def test_builtins_are_fresh_copies() -> None:
    first = templates.builtin_template("builtin:no-show-follow-up")
    assert first is not None
    first.steps[1].config["template"]["subject"] = "changed"
    again = templates.builtin_template("builtin:no-show-follow-up")
    assert again is not None and again.steps[1].config["template"]["subject"] != "changed"


@pytest.mark.parametrize("template_id", list(EXPECTED))
async def test_each_builtin_creates_a_sequence_that_activates(
    db: Database, template_id: str
) -> None:
    actor = await new_actor(db)
    async with db.session(write=True) as session, session.begin():
        template = await templates.get_template(session, actor.organization_id, template_id)
        seq = await sequences.create(
            session,
            REGISTRY,
            actor,
            template.name,
            template.description,
            template.record_type,
            is_personal=False,
            steps=template.steps,
        )
        org = await sequences.organization(session, actor)
        ws = await sequences.workspace(session, REGISTRY, org, seq)
        assert ws.problems() == []
        assert templates.step_count(ws.graph.to_list()) == EXPECTED[template_id][1]
        assert templates.duration(ws.graph.to_list()) == timedelta(days=EXPECTED[template_id][2])
        ws = await sequences.activate(session, REGISTRY, actor, seq.id, None)
        assert ws.problems() == []
        seq_id = seq.id
    async with db.session() as session:
        stored = await session.get(Sequence, seq_id)
        assert stored is not None and stored.status == "ACTIVE"


async def test_list_filters_by_record_type(db: Database) -> None:
    actor = await new_actor(db)
    async with db.session() as session:
        everything = await templates.list_templates(session, actor.organization_id, None)
        leads = await templates.list_templates(session, actor.organization_id, "lead")
        nothing = await templates.list_templates(session, actor.organization_id, "invoice")
    assert [t.id for t in everything] == list(EXPECTED)
    assert [t.id for t in leads] == [
        "builtin:high-volume-prospecting",
        "builtin:webinar-follow-up",
    ]
    assert nothing == []


async def test_unknown_template_is_not_found(db: Database) -> None:
    actor = await new_actor(db)
    async with db.session() as session:
        for template_id in ("builtin:nope", "U2VxdWVuY2U6MQ", "garbage", ""):
            with pytest.raises(DomainError) as caught:
                await templates.get_template(session, actor.organization_id, template_id)
            assert [(p.code, p.field) for p in caught.value.problems] == [
                ("NOT_FOUND", ("templateId",))
            ]


async def _sequence_from(
    db: Database, actor: Actor, template_id: str, personal: bool = False
) -> int:
    async with db.session(write=True) as session, session.begin():
        template = await templates.get_template(session, actor.organization_id, template_id)
        seq = await sequences.create(
            session,
            REGISTRY,
            actor,
            f"From {template.name}"[:160],
            "",
            template.record_type,
            is_personal=personal,
            steps=template.steps,
        )
        return seq.id


async def test_save_as_template_round_trip(db: Database) -> None:
    actor = await new_actor(db)
    seq_id = await _sequence_from(db, actor, "builtin:demo-request-meeting")
    async with db.session(write=True) as session, session.begin():
        saved = await templates.save_as_template(
            session, REGISTRY, actor, seq_id, "  Our demo follow-up ", "Tuned for EMEA."
        )
    assert not saved.is_builtin and saved.name == "Our demo follow-up"
    assert (saved.record_type, saved.step_count, saved.duration) == (
        "opportunity",
        9,
        timedelta(days=5),
    )
    async with db.session() as session:
        loaded = await templates.get_template(session, actor.organization_id, saved.id)
        listed = await templates.list_templates(session, actor.organization_id, "opportunity")
        audit = (
            await session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.organization_id == actor.organization_id,
                    AuditEntry.action.in_(["template.created", "sequence.saved_as_template"]),
                )
            )
        ).all()
    assert loaded == saved
    builtin = templates.builtin_template("builtin:demo-request-meeting")
    assert builtin is not None and loaded.steps == builtin.steps
    assert [t.id for t in listed] == ["builtin:demo-request-meeting", saved.id]
    assert sorted(audit) == ["sequence.saved_as_template", "template.created"]

    # A sequence created from the saved template activates too.
    seq2 = await _sequence_from(db, actor, saved.id)
    async with db.session(write=True) as session, session.begin():
        ws = await sequences.activate(session, REGISTRY, actor, seq2, None)
        assert ws.problems() == []

    # Another organization neither sees nor finds it.
    stranger = await new_actor(db)
    async with db.session() as session:
        theirs = await templates.list_templates(session, stranger.organization_id, None)
        assert saved.id not in [t.id for t in theirs]
        with pytest.raises(DomainError):
            await templates.get_template(session, stranger.organization_id, saved.id)


async def test_save_as_template_refusals(db: Database) -> None:
    actor = await new_actor(db)
    seq_id = await _sequence_from(db, actor, "builtin:event-invitation")

    async def save(
        who: Actor, name: str, sequence_id: int = seq_id
    ) -> list[tuple[str, tuple[str, ...]]]:
        async with db.session(write=True) as session, session.begin():
            try:
                await templates.save_as_template(session, REGISTRY, who, sequence_id, name, "")
            except DomainError as e:
                await session.rollback()
                return [(p.code.value, p.field) for p in e.problems]
        return []

    assert await save(actor, "Mine") == []
    assert await save(actor, "mine") == [("DUPLICATE", ("name",))]
    assert await save(actor, "Invite to an upcoming event") == [("DUPLICATE", ("name",))]
    assert await save(actor, "   ") == [("REQUIRED", ("name",))]
    assert await save(actor, "x" * 161) == [("TOO_LONG", ("name",))]
    seller = await add_user(db, actor, (Role.SALESPERSON,))
    assert await save(seller, "Seller's") == [("FORBIDDEN", ())]
    personal = await _sequence_from(db, seller, "builtin:event-invitation", personal=True)
    assert await save(seller, "Seller's", personal) == []
    other_seller = await add_user(db, actor, (Role.SALESPERSON,))
    assert await save(other_seller, "Not theirs", personal) == [("FORBIDDEN", ())]
    stranger = await new_actor(db)
    assert await save(stranger, "Elsewhere") == [("NOT_FOUND", ("sequenceId",))]
    async with db.session(write=True) as session, session.begin():
        org = await session.get(Organization, actor.organization_id)
        assert org is not None
        org.sequences_enabled = False
    assert await save(actor, "Disabled") == [("FEATURE_DISABLED", ())]
