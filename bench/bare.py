"""The baseline of the HTTP scenarios: bare Starlette endpoints that answer the same
requests with the same JSON as sekvens, from the same database, through the same
SQLAlchemy engine (pool, SQLite pragmas), running the same SQL statements as sekvens does
for that request, one for one, with SQLAlchemy Core and no GraphQL.

They reuse sekvens' pure domain code where the answer needs product rules (the step
tree, the validation of a design, tag paths): the baseline skips the GraphQL and ORM
layers, not the work the product must do.

Beside them, `/grid-lean` and `/upnext-lean` answer the same with the fewest statements a
hand-written server would send (joins and correlated counts instead of one statement per
relation), so waste in sekvens' SQL itself shows.

    uvicorn --factory bench.bare:create_app   (reads SEKVENS_DATABASE_URL)
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sekvens.authoring.checks import Checker
from sekvens.config import Settings
from sekvens.domain.sequence_graph import START_TYPE, SequenceGraph, Step
from sekvens.domain.sequence_rules import graph_problems
from sekvens.domain.tags import TagTree
from sekvens.plugins.api import SequenceInfo
from sekvens.plugins.registry import Registry
from sekvens.schema.relay import from_global_id, offset_cursor, to_global_id
from sekvens.storage import sequences, tags
from sekvens.storage import tables as t
from sekvens.storage.db import Database
from sekvens.storage.record_types import to_info
from sekvens.storage.tokens import hash_token

RUNNING = ("CONNECTED", "PAUSED")
PAGE_MAX = 100

T_TOKENS = t.ApiToken.__table__
T_USERS = t.User.__table__
T_ROLES = t.UserRole.__table__
T_ORGS = t.Organization.__table__
T_SEQ = t.Sequence.__table__
T_VER = t.SequenceVersion.__table__
T_STEPS = t.SequenceStep.__table__
T_CONN = t.Connection.__table__
T_TYPES = t.RecordType.__table__
T_FIELDS = t.RecordField.__table__
T_ACT = t.Activity.__table__
T_ASSIGNEES = t.ActivityAssignee.__table__
T_RECORDS = t.Record.__table__


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _json(data: dict[str, Any]) -> Response:
    return Response(json.dumps({"data": data}), media_type="application/json")


@dataclass
class GridRow:
    """A home-grid row: the sequence and what the page shows beside it."""

    sequence: Any
    step_count: int
    active: int
    record_type: str
    owner_name: str | None


def _grid_page(
    rows: list[GridRow], has_more: bool, seq_tags: dict[int, list[int]], tree: TagTree
) -> dict[str, Any]:
    """The `sequences` connection of the home grid from the page's rows."""
    nodes = []
    for row in rows:
        s = row.sequence
        tag_ids = sorted((i for i in set(seq_tags.get(s.id, ())) if i in tree), key=tree.path_key)
        nodes.append(
            {
                "id": to_global_id("Sequence", s.id),
                "key": s.key,
                "name": s.name,
                "description": s.description,
                "status": s.status,
                "isPersonal": s.is_personal,
                "createdAt": _iso(s.created_at),
                "modifiedAt": _iso(s.updated_at),
                "stepCount": row.step_count,
                "activeConnections": row.active,
                "recordType": {"name": row.record_type},
                "ownerUser": {"id": to_global_id("User", s.owner_user_id), "name": row.owner_name}
                if row.owner_name is not None
                else None,
                "tags": [
                    {"id": to_global_id("Tag", i), "name": tree.nodes[i].name, "path": tree.path(i)}
                    for i in tag_ids
                ],
            }
        )
    page_info = {
        "hasNextPage": has_more,
        "endCursor": offset_cursor(len(nodes) - 1) if nodes else None,
    }
    return {"pageInfo": page_info, "nodes": nodes}


class Unauthorized(Exception):
    pass


class Bare:
    def __init__(self, db: Database, registry: Registry):
        self.db = db
        self.registry = registry
        self.shape = registry.shape
        self._verified: dict[str, tuple[int, int, float]] = {}

    async def viewer(self, request: Request) -> tuple[int, int]:
        """(user id, organization id) of the bearer token. As in sekvens, a verified token
        is kept for SEKVENS_AUTH_CACHE_SECONDS; a miss costs the same two statements (token
        with its user, then the user's roles) in a connection of their own."""
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized
        digest = hash_token(token.strip())
        cached = self._verified.get(digest)
        if cached is not None and cached[2] > time.monotonic():
            return cached[0], cached[1]
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(T_TOKENS, T_USERS)
                    .join(T_USERS, T_USERS.c.id == T_TOKENS.c.user_id)
                    .where(T_TOKENS.c.token_hash == digest)
                )
            ).first()
            if row is None or row.revoked_at is not None or not row.is_active:
                raise Unauthorized
            user_id, org_id = row.user_id, row.organization_id
            await conn.execute(
                select(T_ROLES.c.user_id, T_ROLES.c.role).where(T_ROLES.c.user_id.in_([user_id]))
            )
        if self.db.settings.auth_cache_seconds > 0:
            expires = time.monotonic() + self.db.settings.auth_cache_seconds
            self._verified[digest] = (user_id, org_id, expires)
        return user_id, org_id

    async def _org(self, conn: AsyncConnection, org_id: int) -> Any:
        return (await conn.execute(select(T_ORGS).where(T_ORGS.c.id == org_id))).first()

    # --- Home grid ---------------------------------------------------------------------

    async def grid(self, request: Request) -> Response:
        """The statements sekvens sends for the home grid: the organization, the page, step
        counts, active connections, the page's tags with their parents, record types and
        owners (seven, in one connection)."""
        variables = (await request.json()).get("variables") or {}
        first = min(int(variables.get("first", PAGE_MAX)), PAGE_MAX)
        try:
            _, org_id = await self.viewer(request)
        except Unauthorized:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, 401)
        async with self.db.engine.connect() as conn:
            await self._org(conn, org_id)
            page = (
                await conn.execute(
                    select(T_SEQ)
                    .where(T_SEQ.c.organization_id == org_id)
                    .order_by(T_SEQ.c.id)
                    .limit(first + 1)
                    .offset(0)
                )
            ).all()
            ids = [s.id for s in page[:first]]
            session = AsyncSession(bind=conn)
            step_counts = await sequences.step_counts(session, ids)
            active = dict(
                (
                    await conn.execute(
                        select(T_CONN.c.sequence_id, func.count())
                        .where(T_CONN.c.sequence_id.in_(ids), T_CONN.c.status.in_(RUNNING))
                        .group_by(T_CONN.c.sequence_id)
                    )
                ).all()
            )
            seq_tags, tree = await tags.tags_of_sequences(session, ids)
            type_ids = list(dict.fromkeys(s.record_type_id for s in page[:first]))
            types = {
                r.id: r.name
                for r in await conn.execute(
                    select(T_TYPES).where(
                        T_TYPES.c.id.in_(type_ids), T_TYPES.c.organization_id == org_id
                    )
                )
            }
            owner_ids = list(
                dict.fromkeys(s.owner_user_id for s in page[:first] if s.owner_user_id)
            )
            owners = {
                u.id: u.name
                for u in await conn.execute(
                    select(T_USERS).where(
                        T_USERS.c.id.in_(owner_ids), T_USERS.c.organization_id == org_id
                    )
                )
            }
        rows = [
            GridRow(
                s,
                step_counts.get(s.id, 0),
                active.get(s.id, 0),
                types[s.record_type_id],
                owners.get(s.owner_user_id),
            )
            for s in page[:first]
        ]
        return _json({"sequences": _grid_page(rows, len(page) > first, seq_tags, tree)})

    async def grid_lean(self, request: Request) -> Response:
        """The home grid in the fewest statements a hand-written server would send: the
        page with its record type, owner, step count and active connections in one, the
        page's tags with their parents in another."""
        variables = (await request.json()).get("variables") or {}
        first = min(int(variables.get("first", PAGE_MAX)), PAGE_MAX)
        try:
            _, org_id = await self.viewer(request)
        except Unauthorized:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, 401)
        newest = (
            select(func.max(T_VER.c.number))
            .where(T_VER.c.sequence_id == T_SEQ.c.id)
            .correlate(T_SEQ)
            .scalar_subquery()
        )
        steps = (
            select(func.count(T_STEPS.c.id))
            .select_from(T_VER.join(T_STEPS, T_STEPS.c.version_id == T_VER.c.id))
            .where(
                T_VER.c.sequence_id == T_SEQ.c.id,
                T_VER.c.number == newest,
                T_STEPS.c.type != START_TYPE,
            )
            .correlate(T_SEQ)
            .scalar_subquery()
        )
        active = (
            select(func.count())
            .where(T_CONN.c.sequence_id == T_SEQ.c.id, T_CONN.c.status.in_(RUNNING))
            .correlate(T_SEQ)
            .scalar_subquery()
        )
        async with self.db.engine.connect() as conn:
            page = (
                await conn.execute(
                    select(
                        T_SEQ,
                        steps.label("step_count"),
                        active.label("active"),
                        T_TYPES.c.name.label("type_name"),
                        T_USERS.c.name.label("owner_name"),
                    )
                    .join(T_TYPES, T_TYPES.c.id == T_SEQ.c.record_type_id)
                    .outerjoin(T_USERS, T_USERS.c.id == T_SEQ.c.owner_user_id)
                    .where(T_SEQ.c.organization_id == org_id)
                    .order_by(T_SEQ.c.id)
                    .limit(first + 1)
                    .offset(0)
                )
            ).all()
            session = AsyncSession(bind=conn)
            seq_tags, tree = await tags.tags_of_sequences(session, [s.id for s in page[:first]])
        rows = [GridRow(s, s.step_count, s.active, s.type_name, s.owner_name) for s in page[:first]]
        return _json({"sequences": _grid_page(rows, len(page) > first, seq_tags, tree)})

    # --- Designer --------------------------------------------------------------------------

    async def designer(self, request: Request) -> Response:
        variables = (await request.json()).get("variables") or {}
        try:
            _, org_id = await self.viewer(request)
        except Unauthorized:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, 401)
        kind, pk = from_global_id(str(variables.get("id", "")))
        if kind != "Sequence" or not pk.isdigit():
            return _json({"sequence": None})
        async with self.db.engine.connect() as conn:
            org = await self._org(conn, org_id)
            seq = (await conn.execute(select(T_SEQ).where(T_SEQ.c.id == int(pk)))).first()
            if seq is None or seq.organization_id != org_id:
                return _json({"sequence": None})
            newest = (
                select(T_VER.c.sequence_id, func.max(T_VER.c.number).label("n"))
                .where(T_VER.c.sequence_id.in_([seq.id]))
                .group_by(T_VER.c.sequence_id)
                .subquery()
            )
            version = (
                await conn.execute(
                    select(T_VER).join(
                        newest,
                        (T_VER.c.sequence_id == newest.c.sequence_id)
                        & (T_VER.c.number == newest.c.n),
                    )
                )
            ).first()
            rows = (
                await conn.execute(
                    select(T_STEPS)
                    .where(T_STEPS.c.version_id.in_([version.id]))
                    .order_by(T_STEPS.c.version_id, T_STEPS.c.position)
                )
            ).all()
            org = await self._org(conn, org_id)  # sekvens loads it again for the checker
            type_rows = (
                await conn.execute(
                    select(T_TYPES)
                    .where(T_TYPES.c.organization_id == org_id)
                    .order_by(T_TYPES.c.name)
                )
            ).all()
            fields: dict[int, list[Any]] = defaultdict(list)
            for f in await conn.execute(
                select(T_FIELDS)
                .where(T_FIELDS.c.record_type_id.in_([r.id for r in type_rows]))
                .order_by(T_FIELDS.c.record_type_id, T_FIELDS.c.position)
            ):
                fields[f.record_type_id].append(f)
            infos = (
                await conn.execute(
                    select(T_SEQ, T_TYPES.c.name.label("type_name"))
                    .join(T_TYPES, T_TYPES.c.id == T_SEQ.c.record_type_id)
                    .where(T_SEQ.c.organization_id == org_id)
                )
            ).all()
        lookup: dict[str, SequenceInfo] = {}
        for s in infos:
            info = SequenceInfo(
                to_global_id("Sequence", s.id), s.key, s.name, s.type_name, s.status == "ACTIVE"
            )
            lookup[info.id] = lookup[info.key] = info
        record_type = next(
            to_info(r, fields[r.id]) for r in type_rows if r.id == seq.record_type_id
        )
        checker = Checker(
            registry=self.registry,
            record_type=record_type,
            call_outcomes=tuple(org.call_outcomes),
            max_steps=org.max_steps,
            lookup_sequence=lookup.get,
        )
        graph = SequenceGraph(
            [
                Step(r.key, r.type, r.name, r.description, dict(r.config), r.parent_key, r.branch)
                for r in rows
            ],
            self.shape,
        )
        gid = to_global_id("Sequence", seq.id)
        per_step = checker.step_problems(graph, gid)
        walk = list(graph.walk())
        problems = [p for key, _ in walk for p in per_step.get(key, [])]
        problems += graph_problems(graph, checker.max_steps)

        def step_id(key: str | None) -> dict[str, str] | None:
            return {"id": to_global_id("Step", f"{version.id}:{key}")} if key else None

        steps = []
        for key, depth in walk:
            s = graph.steps[key]
            step_type = self.registry.get(s.type)
            steps.append(
                {
                    "id": to_global_id("Step", f"{version.id}:{key}"),
                    "key": key,
                    "type": s.type,
                    "category": step_type.category.value if step_type else None,
                    "name": s.name,
                    "description": s.description,
                    "config": s.config,
                    "branch": s.branch,
                    "depth": depth,
                    "parent": step_id(s.parent),
                    "next": step_id(graph.follower(key, "NEXT")),
                    "yes": step_id(graph.follower(key, "YES")),
                    "no": step_id(graph.follower(key, "NO")),
                }
            )
        return _json(
            {
                "sequence": {
                    "id": gid,
                    "name": seq.name,
                    "status": seq.status,
                    "validation": {
                        "canActivate": not problems,
                        "problems": [
                            {
                                "code": p.code.value,
                                "message": p.message,
                                "stepId": to_global_id("Step", f"{version.id}:{p.step_key}")
                                if p.step_key
                                else None,
                            }
                            for p in problems
                        ],
                    },
                    "steps": steps,
                }
            }
        )

    # --- Up next ---------------------------------------------------------------------------

    async def up_next(self, request: Request) -> Response:
        """The statements sekvens sends for up next: the page, its records, its sequences."""
        variables = (await request.json()).get("variables") or {}
        first = min(int(variables.get("first", PAGE_MAX)), PAGE_MAX)
        try:
            user_id, org_id = await self.viewer(request)
        except Unauthorized:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, 401)
        async with self.db.engine.connect() as conn:
            page = (await conn.execute(_open_activities(select(T_ACT), user_id, first))).all()
            records = {
                r.id: r.name
                for r in await conn.execute(
                    select(T_RECORDS).where(
                        T_RECORDS.c.id.in_(list(dict.fromkeys(a.record_id for a in page[:first]))),
                        T_RECORDS.c.organization_id == org_id,
                    )
                )
            }
            names = {
                s.id: s.name
                for s in await conn.execute(
                    select(T_SEQ).where(
                        T_SEQ.c.id.in_(list(dict.fromkeys(a.sequence_id for a in page[:first]))),
                        T_SEQ.c.organization_id == org_id,
                    )
                )
            }
        rows = [(a, records[a.record_id], names[a.sequence_id]) for a in page[:first]]
        return _json({"upNext": _up_next_page(rows, len(page) > first)})

    async def up_next_lean(self, request: Request) -> Response:
        """Up next in one statement: the page joined to its records and sequences."""
        variables = (await request.json()).get("variables") or {}
        first = min(int(variables.get("first", PAGE_MAX)), PAGE_MAX)
        try:
            user_id, _ = await self.viewer(request)
        except Unauthorized:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, 401)
        stmt = (
            select(T_ACT, T_RECORDS.c.name.label("record_name"), T_SEQ.c.name.label("seq_name"))
            .join(T_RECORDS, T_RECORDS.c.id == T_ACT.c.record_id)
            .join(T_SEQ, T_SEQ.c.id == T_ACT.c.sequence_id)
        )
        async with self.db.engine.connect() as conn:
            page = (await conn.execute(_open_activities(stmt, user_id, first))).all()
        return _json(
            {
                "upNext": _up_next_page(
                    [(a, a.record_name, a.seq_name) for a in page[:first]], len(page) > first
                )
            }
        )


def _open_activities(stmt: Select[Any], user_id: int, first: int) -> Select[Any]:
    """`stmt` narrowed to a user's open activities, soonest due first, one more than `first`."""
    return (
        stmt.join(T_ASSIGNEES, T_ASSIGNEES.c.activity_id == T_ACT.c.id)
        .where(T_ASSIGNEES.c.user_id == user_id, T_ACT.c.status == "OPEN")
        .order_by(T_ACT.c.due_at, T_ACT.c.id)
        .limit(first + 1)
        .offset(0)
    )


def _up_next_page(rows: list[tuple[Any, str, str]], has_more: bool) -> dict[str, Any]:
    """The `upNext` connection from (activity, record name, sequence name) rows."""
    nodes = [
        {
            "id": to_global_id("Activity", a.id),
            "subject": a.subject,
            "kind": a.activity_kind,
            "stepType": a.step_type,
            "status": "SKIPPED" if a.status == "CANCELED" else a.status,
            "dueAt": _iso(a.due_at),
            "record": {"id": to_global_id("Record", a.record_id), "name": record},
            "sequence": {"id": to_global_id("Sequence", a.sequence_id), "name": sequence},
        }
        for a, record, sequence in rows
    ]
    page_info = {
        "hasNextPage": has_more,
        "endCursor": offset_cursor(len(nodes) - 1) if nodes else None,
    }
    return {"pageInfo": page_info, "nodes": nodes}


def create_app(settings: Settings | None = None, db: Database | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    db = db or Database(settings)
    bare = Bare(db, Registry.from_entry_points())

    async def ping(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/grid", bare.grid, methods=["POST"]),
            Route("/grid-lean", bare.grid_lean, methods=["POST"]),
            Route("/designer", bare.designer, methods=["POST"]),
            Route("/upnext", bare.up_next, methods=["POST"]),
            Route("/upnext-lean", bare.up_next_lean, methods=["POST"]),
            Route("/ping", ping),
        ]
    )
