"""Seeded data for the scenarios: an organization, sellers, tags, sequences, records.

Sequences go through sekvens' own authoring code (so their rows are what the product
writes); records and connections in bulk are inserted directly, since loading them is not
what a scenario measures. Everything random comes from one `random.Random(SEED)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from sekvens.authoring import sequences as authoring
from sekvens.config import Settings
from sekvens.domain.roles import Actor, Role
from sekvens.domain.sequence_graph import START_TYPE, Step
from sekvens.plugins.registry import Registry
from sekvens.storage import organizations, tokens, users
from sekvens.storage.db import Database
from sekvens.storage.tables import (
    Connection,
    Organization,
    Record,
    RecordType,
    Sequence,
    SequenceTag,
    Tag,
)

FIRST = ["Ada", "Bo", "Cleo", "Dag", "Eva", "Finn", "Gry", "Hugo", "Ida", "Jon", "Kari", "Leo"]
LAST = ["Berg", "Dahl", "Eng", "Holm", "Lund", "Moe", "Nord", "Strand", "Vik", "Aas"]
WORDS = [
    "Inbound",
    "Outbound",
    "Renewal",
    "Webinar",
    "Trial",
    "Enterprise",
    "Partner",
    "Nurture",
    "Event",
    "Upsell",
    "Winback",
    "Demo",
]


@dataclass
class BenchOrg:
    org_id: int
    admin_id: int
    admin_token: str
    seller_ids: list[int]
    seller_tokens: dict[int, str]
    lead_type_id: int
    tag_ids: list[int] = field(default_factory=list)

    def admin(self) -> Actor:
        return Actor(self.admin_id, self.org_id, frozenset({Role.SYSTEM_ADMINISTRATOR}))


def open_db(url: str, **kwargs: Any) -> Database:
    return Database(Settings(database_url=url), **kwargs)


async def organization(db: Database, sellers: int = 20, name: str = "Bench") -> BenchOrg:
    """An organization with an administrator and `sellers` salespeople, each with a token;
    limits raised so big data sets fit (more active sequences and steps than the defaults)."""
    async with db.session(write=True) as session, session.begin():
        org = await organizations.create_organization(session, name)
        org.max_active_sequences = 100_000
        org.max_steps = 1_000
        admin = await users.create_user(
            session, org, f"admin@{name.lower()}.example", "Admin", ["SYSTEM_ADMINISTRATOR"]
        )
        _, admin_token = await tokens.create_token(session, admin)
        seller_ids, seller_tokens = [], {}
        for i in range(sellers):
            user = await users.create_user(
                session,
                org,
                f"seller{i}@{name.lower()}.example",
                f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}",
                ["SALESPERSON"],
            )
            _, secret = await tokens.create_token(session, user)
            seller_ids.append(user.id)
            seller_tokens[user.id] = secret
        lead = await session.scalar(
            select(RecordType.id).where(
                RecordType.organization_id == org.id, RecordType.name == "lead"
            )
        )
        assert lead is not None
        return BenchOrg(org.id, admin.id, admin_token, seller_ids, seller_tokens, lead)


async def tags(db: Database, org: BenchOrg, rng: random.Random, count: int = 12) -> list[int]:
    """A two-level tag tree."""
    async with db.session(write=True) as session, session.begin():
        ids: list[int] = []
        for i in range(count):
            parent = ids[rng.randrange(len(ids))] if ids and i % 3 else None
            tag = Tag(organization_id=org.org_id, parent_id=parent, name=f"Tag {i:02d}")
            session.add(tag)
            await session.flush()
            ids.append(tag.id)
    org.tag_ids = ids
    return ids


def chain(rng: random.Random, n: int, prefix: str = "k") -> list[Step]:
    """START and `n` plain steps in a row (tasks, manual emails, calls, waits)."""
    steps = [Step(f"{prefix}0", START_TYPE, "Start")]
    parent = steps[0].key
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("core.task", {"subject": "Follow up"}),
        ("email.manual", {}),
        ("call.phone", {}),
        ("core.wait", {"days": 2}),
    ]
    for i in range(1, n + 1):
        step_type, config = kinds[rng.randrange(len(kinds))]
        if step_type == "core.wait" and (steps[-1].type == "core.wait" or i == n):
            step_type, config = kinds[0]
        key = f"{prefix}{i}"
        steps.append(Step(key, step_type, f"Step {i}", "", dict(config), parent, "NEXT"))
        parent = key
    return steps


def designer_steps(n: int = 40) -> list[Step]:
    """A designer-sized tree of `n` steps after START with every kind of step: tasks, calls,
    manual and automated email, waits, LinkedIn, and email and call conditions with both
    branches filled."""
    steps = [Step("start", START_TYPE, "Sequence starts here")]
    count = 0

    def add(step_type: str, config: dict[str, Any], parent: str, branch: str = "NEXT") -> str:
        nonlocal count
        count += 1
        key = f"s{count:03d}"
        name = f"{step_type.split('.')[-1].replace('_', ' ').title()} {count}"
        steps.append(
            Step(key, step_type, name, f"Step {count} of the plan", config, parent, branch)
        )
        return key

    email = {"template": {"subject": "Hello {{ first_name }}", "body": "Hi {{ first_name }},\n"}}
    parent = "start"
    while n - count >= 6:  # a block of six: email, condition, YES task + LinkedIn, NO wait + call
        mail = add("email.auto", email, parent)
        cond = add("email.condition", {"events": ["OPENED"], "days": 2}, mail)
        add("linkedin.connect", {}, add("core.task", {"subject": "Call back"}, cond, "YES"))
        parent = add("call.phone", {}, add("core.wait", {"days": 1}, cond, "NO"))
    while count < n:
        parent = add("core.task", {"subject": f"Task {count + 1}"}, parent)
    return steps


async def sequences(
    db: Database,
    registry: Registry,
    org: BenchOrg,
    rng: random.Random,
    count: int,
    steps: tuple[int, int] = (3, 8),
    activate_share: float = 0.5,
    name_prefix: str = "",
) -> list[int]:
    """`count` sequences of a few steps, owned by various users, some tagged, half active."""
    actor = org.admin()
    owners = [org.admin_id, *org.seller_ids]
    ids: list[int] = []
    async with db.session(write=True) as session, session.begin():
        for i in range(count):
            name = f"{name_prefix}{rng.choice(WORDS)} {rng.choice(WORDS).lower()} {i:04d}"
            seq = await authoring.create(
                session,
                registry,
                actor,
                name,
                f"Seeded sequence {i}",
                "lead",
                False,
                chain(rng, rng.randint(*steps)),
                key=f"seq-{name_prefix}{i:05d}",
            )
            ids.append(seq.id)
            if rng.random() < activate_share:
                await authoring.activate(session, registry, actor, seq.id, None)
            await session.execute(
                update(Sequence)
                .where(Sequence.id == seq.id)
                .values(owner_user_id=rng.choice(owners))
            )
            picked = rng.sample(org.tag_ids, k=min(len(org.tag_ids), rng.randint(0, 3)))
            if picked:
                await session.execute(
                    insert(SequenceTag), [{"sequence_id": seq.id, "tag_id": t} for t in picked]
                )
    return ids


async def sequence(
    db: Database,
    registry: Registry,
    org: BenchOrg,
    name: str,
    steps: list[Step],
    activate: bool = True,
) -> int:
    async with db.session(write=True) as session, session.begin():
        seq = await authoring.create(
            session, registry, org.admin(), name, "", "lead", False, steps, key=name.lower()
        )
        if activate:
            await authoring.activate(session, registry, org.admin(), seq.id, None)
        return seq.id


async def records(
    db: Database,
    org: BenchOrg,
    rng: random.Random,
    count: int,
    prefix: str = "L",
    owners: list[int] | None = None,
    chunk: int = 2000,
) -> None:
    """`count` leads with names and email addresses, owned by the sellers in turn."""
    owners = owners or org.seller_ids
    now = datetime.now(UTC)
    async with db.session(write=True) as session, session.begin():
        for start in range(0, count, chunk):
            rows = []
            for i in range(start, min(start + chunk, count)):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                rows.append(
                    {
                        "organization_id": org.org_id,
                        "record_type_id": org.lead_type_id,
                        "external_id": f"{prefix}{i:07d}",
                        "name": f"{first} {last}",
                        "owner_user_id": owners[i % len(owners)],
                        "fields": {
                            "first_name": first,
                            "last_name": last,
                            "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                            "company": f"{rng.choice(WORDS)} AS",
                        },
                        "stage": "Qualify",
                        "is_active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            await session.execute(insert(Record), rows)


async def record_ids(db: Database, org: BenchOrg) -> list[int]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(Record.id).where(Record.organization_id == org.org_id).order_by(Record.id)
            )
        )


async def connect_directly(
    db: Database,
    org: BenchOrg,
    sequence_id: int,
    record_ids: list[int],
    rows_for: Any = None,
    chunk: int = 2000,
) -> None:
    """Connection rows straight into the table; `rows_for(i, record_id)` may adjust each."""
    now = datetime.now(UTC)
    async with db.session(write=True) as session, session.begin():
        seq = await session.get(Sequence, sequence_id)
        assert seq is not None and seq.current_version_id is not None
        for start in range(0, len(record_ids), chunk):
            rows = []
            for i in range(start, min(start + chunk, len(record_ids))):
                row = {
                    "organization_id": org.org_id,
                    "sequence_id": sequence_id,
                    "version_id": seq.current_version_id,
                    "record_id": record_ids[i],
                    "status": "CONNECTED",
                    "phase": "ACTIVITY",
                    "step_state": {},
                    "current_step_key": None,
                    "steps_done": 0,
                    "step_entered_at": now - timedelta(hours=1),
                    "next_run_at": None,
                    "connected_by_id": org.admin_id,
                    "created_at": now - timedelta(hours=1),
                    "updated_at": now,
                }
                if rows_for is not None:
                    row.update(rows_for(i, record_ids[i]))
                rows.append(row)
            await session.execute(insert(Connection), rows)


async def org_row(db: Database, org_id: int) -> Organization:
    async with db.session() as session:
        row = await session.get(Organization, org_id)
        assert row is not None
        return row
