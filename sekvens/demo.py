"""Demo data: an organization with a user of each role, teams, records of every type,
sequences, and a few leads of each seller connected, so each has calls due this morning."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.authoring import sequences
from sekvens.authoring.templates import get_template
from sekvens.domain.records import FieldType
from sekvens.domain.roles import Actor, Role
from sekvens.domain.sequence_graph import NEXT, NO, START_TYPE, YES, Step
from sekvens.domain.teams import TeamKind
from sekvens.engine.connections import connect_by_filter
from sekvens.plugins.registry import Registry
from sekvens.storage import organizations, record_types, tags, teams, tokens, users
from sekvens.storage.records import RecordFilter, RecordInput, upsert_records
from sekvens.storage.tables import Organization, Sequence
from sekvens.storage.types import utcnow

DEMO_ORG = "Demo"
RECORDS_PER_TYPE = 250
SEED = 20261127

PEOPLE = [
    ("admin@demo.example", "Ada Admin", [Role.SYSTEM_ADMINISTRATOR]),
    ("sequences@demo.example", "Sverre Sequence", [Role.SEQUENCE_MANAGER]),
    ("manager@demo.example", "Mona Manager", [Role.SALES_MANAGER]),
    ("kari@demo.example", "Kari Seller", [Role.SALESPERSON]),
    ("ola@demo.example", "Ola Seller", [Role.SALESPERSON]),
    ("ingrid@demo.example", "Ingrid Seller", [Role.SALESPERSON]),
]
FIRST = [
    "Astrid",
    "Bjørn",
    "Camilla",
    "David",
    "Emma",
    "Fredrik",
    "Greta",
    "Hassan",
    "Ida",
    "Jonas",
]
LAST = ["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Berg"]
COMPANIES = ["Fjord Tech", "Nordlys AS", "Bergen Bygg", "Polar Retail", "Viken Finans", "Trollsoft"]


@dataclass
class DemoUser:
    email: str
    name: str
    roles: list[Role]
    token: str


async def has_data(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(Organization)))


async def load_demo(session: AsyncSession, name: str = DEMO_ORG) -> list[DemoUser]:
    """Create the demo organization in the session's transaction; returns a token per user."""
    rng = random.Random(SEED)
    org = await organizations.create_organization(session, name)
    created = []
    for email, full_name, roles in PEOPLE:
        user = await users.create_user(
            session, org, email, full_name, [r.value for r in roles], time_zone="Europe/Oslo"
        )
        _, secret = await tokens.create_token(session, user, "demo")
        created.append((user, DemoUser(email, full_name, roles, secret)))
    by_email = {u.email: u for u, _ in created}
    sellers = [
        by_email[e] for e in ("kari@demo.example", "ola@demo.example", "ingrid@demo.example")
    ]

    owner_team = await teams.create_team(
        session, org.id, "Nordics sales", TeamKind.OWNER, "Owns shared accounts"
    )
    access_team = await teams.create_team(
        session, org.id, "Key account team", TeamKind.ACCESS, "Works key accounts"
    )
    for seller in sellers:
        await teams.set_member(session, owner_team, seller, None)
    await teams.set_member(session, access_team, sellers[0], "Account manager")
    await teams.set_member(session, access_team, sellers[1], "Sales engineer")
    await teams.set_member(
        session, access_team, by_email["manager@demo.example"], "Account manager"
    )

    infos = await record_types.load_infos(session, org.id)
    items = []
    for _, info in sorted(infos.values(), key=lambda t: t[1].name):
        for i in range(RECORDS_PER_TYPE):
            first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)
            values: dict[str, object] = {
                "first_name": first,
                "last_name": last,
                "email": f"{first.lower().replace('ø', 'o')}.{last.lower()}{i}@example.com",
                "phone": f"+47 {rng.randint(40000000, 99999999)}",
                "company": company,
                "job_title": rng.choice(["CEO", "CTO", "Head of Sales", "Buyer", "Engineer"]),
                "do_not_email": rng.random() < 0.05,
                "account_manager": rng.choice(sellers).email,
            }
            for f in info.fields.values():
                if f.name not in values and f.type is FieldType.OPTION_SET:
                    values[f.name] = rng.choice(f.options)
            team_owned = rng.random() < 0.15
            items.append(
                RecordInput(
                    record_type=info.name,
                    external_id=f"{info.name.upper()}-{i + 1:05d}",
                    name=f"{first} {last} ({company})",
                    owner_user_id=None if team_owned else rng.choice(sellers).id,
                    owner_team_id=owner_team.id if team_owned else None,
                    access_team_id=access_team.id if rng.random() < 0.2 else None,
                    stage=rng.choice(info.stages) if info.stages else None,
                    fields={k: v for k, v in values.items() if k in info.fields},
                )
            )
    results = await upsert_records(session, org.id, by_email["admin@demo.example"].id, items)
    problems = [p for r in results for p in r.problems]
    if problems:
        raise RuntimeError(f"demo data does not fit its record types: {problems[:3]}")
    manager = by_email["sequences@demo.example"]
    actor = Actor(manager.id, org.id, frozenset({Role.SEQUENCE_MANAGER}))
    await _demo_sequences(session, actor)
    calls = await _active(session, actor, "Demo: call new leads", CALL_STEPS)
    morning = [
        i.external_id
        for seller in sellers
        for i in [i for i in items if i.record_type == "lead" and i.owner_user_id == seller.id][
            :CONNECTED_PER_SELLER
        ]
    ]
    now = utcnow()
    await connect_by_filter(session, actor, calls.id, RecordFilter(external_ids=morning), None, now)
    return [d for _, d in created]


INTRO_STEPS = [
    Step("start", START_TYPE, "Sequence starts here"),
    Step(
        "intro",
        "email.auto",
        "Introduction email",
        "",
        {
            "template": {
                "subject": "Quick question, {{ first_name or 'there' }}",
                "body": "Hi {{ first_name or 'there' }},\n\n"
                "I help teams like {{ company or 'yours' }} follow up faster."
                " Worth a short call?\n",
            }
        },
        "start",
        NEXT,
    ),
    Step("wait", "core.wait", "Wait a day", "", {"days": 1}, "intro", NEXT),
    Step(
        "opened",
        "email.condition",
        "Opened the email?",
        "",
        {"events": ["OPENED"], "days": 2, "advance_immediately": True},
        "wait",
        NEXT,
    ),
    Step(
        "call",
        "call.phone",
        "Call while it is warm",
        "",
        {"script": "Reference the email they opened."},
        "opened",
        YES,
    ),
    Step(
        "nudge",
        "core.task",
        "Find another way in",
        "",
        {"subject": "Find another contact at the company"},
        "opened",
        NO,
    ),
]


CALL_STEPS = [
    Step("start", START_TYPE, "Sequence starts here"),
    Step(
        "call",
        "call.phone",
        "Intro call",
        "",
        {"script": "Introduce yourself and ask about their follow-up today."},
        "start",
        NEXT,
    ),
    Step(
        "deck",
        "core.task",
        "Send the deck",
        "",
        {"subject": "Send the product deck"},
        "call",
        NEXT,
    ),
]
#: Leads of each seller connected to "Demo: call new leads" (their calls are due at once).
CONNECTED_PER_SELLER = 4


async def _active(
    session: AsyncSession, actor: Actor, name: str, steps: list[Step], description: str = ""
) -> Sequence:
    """An active lead sequence of `steps`."""
    registry = Registry.from_entry_points()
    seq = await sequences.create(
        session, registry, actor, name, description, "lead", False, [replace(s) for s in steps]
    )
    await sequences.activate(session, registry, actor, seq.id, None)
    return seq


async def _demo_sequences(session: AsyncSession, actor: Actor) -> None:
    """Sequences to try the engine with: one active custom, one active and one inactive
    from built-in templates, tagged."""
    registry = Registry.from_entry_points()
    intro = await _active(
        session,
        actor,
        "Demo: intro email",
        INTRO_STEPS,
        "Introduce yourself to new leads; call those who open the email.",
    )
    prospecting = await get_template(
        session, actor.organization_id, "builtin:high-volume-prospecting"
    )
    outbound = await sequences.create(
        session,
        registry,
        actor,
        prospecting.name,
        prospecting.description,
        prospecting.record_type,
        False,
        prospecting.steps,
    )
    await sequences.activate(session, registry, actor, outbound.id, None)
    renewal = await get_template(session, actor.organization_id, "builtin:account-renewal")
    await sequences.create(
        session,
        registry,
        actor,
        renewal.name,
        renewal.description,
        renewal.record_type,
        False,
        renewal.steps,
    )
    region = await tags.create_tag(session, actor.organization_id, "Region", None)
    emea = await tags.create_tag(session, actor.organization_id, "EMEA", region.id)
    await tags.set_sequence_tags(session, intro.id, [emea.id])
    await tags.set_sequence_tags(session, outbound.id, [emea.id])
