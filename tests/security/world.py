"""A populated organization and its users by role, plus an administrator of another one.

Used by the authorization matrix and the fuzz tests. Everything is made through the public
API as organization A's administrator; every id seen on the way is remembered, so a test can
tell whether a response carries anything of organization A.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from sekvens.storage.db import Database
from tests.conftest import Api, GraphQLFailed, new_org

ROLES = ("anonymous", "salesperson", "sales_manager", "sequence_manager", "admin", "other_admin")
#: Callers that are organization A's administrator through a token of narrower scope.
SCOPED = {
    "admin_read": "READ",
    "admin_records": "RECORDS_SYNC",
    "admin_events": "ENGAGEMENT_EVENTS",
}
ROLE_NAMES = {
    "salesperson": "SALESPERSON",
    "sales_manager": "SALES_MANAGER",
    "sequence_manager": "SEQUENCE_MANAGER",
}
TASK = {"subject": "Call them"}
AUTO = {"template": {"subject": "Hi {{ first_name }}", "body": "Hello {{ first_name }}!"}}


def ids_in(value: Any) -> Iterator[str]:
    """Every `id` (and `...Id`) string in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (key == "id" or key.endswith("Id")):
                yield item
            else:
                yield from ids_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from ids_in(item)


@dataclass
class World:
    admin: Api
    other: Api
    engine: Any
    tokens: dict[str, str | None] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    #: Ids of organization A's objects, as seen by its administrator.
    seen: set[str] = field(default_factory=set)
    objects: dict[str, str] = field(default_factory=dict)
    _n: Iterator[int] = field(default_factory=itertools.count)

    def api(self, role: str) -> Api:
        if role == "other_admin":
            return self.other
        return self.admin.as_token(self.tokens[role]) if role != "admin" else self.admin

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self._n)}{uuid.uuid4().hex[:6]}"

    def leaked(self, value: Any, sent: Any = None) -> set[str]:
        """Ids of organization A in `value` (those in `sent` and built-ins aside)."""
        return {i for i in ids_in(value) if i in self.seen and not i.startswith("builtin:")} - set(
            ids_in(sent)
        )

    async def ok(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        data = await self.admin.ok(query, variables)
        self.seen.update(ids_in(data))
        return data

    async def mutate(self, name: str, input: dict[str, Any], selection: str) -> dict[str, Any]:
        payload = await self.admin.mutate(name, input, selection)
        if payload["errors"]:
            raise GraphQLFailed(name, payload["errors"])
        self.seen.update(ids_in(payload))
        return payload

    # --- Things of organization A -------------------------------------------------------------

    async def sequence(self, tasks: int = 1, active: bool = False, **options: Any) -> dict:
        """An organization sequence of `tasks` task steps: {"id", "steps": [start, task...]}."""
        seq = (
            await self.mutate(
                "createSequence", {"name": self.unique("Seq ")}, "sequence { id steps { id } }"
            )
        )["sequence"]
        after = seq["steps"][0]["id"]
        for _ in range(tasks):
            step = await self.mutate(
                "addStep",
                {
                    "sequenceId": seq["id"],
                    "afterStepId": after,
                    "branch": "NEXT",
                    "type": "core.task",
                    "config": TASK,
                },
                "step { id }",
            )
            after = step["step"]["id"]
            seq["steps"].append(step["step"])
        if options:
            await self.mutate(
                "setSequenceOptions", {"sequenceId": seq["id"], **options}, "sequence { id }"
            )
        if active:
            await self.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
        return seq

    async def job(self) -> str:
        """A QUEUED job of the administrator's (connecting the records of a stage none has)."""
        payload = await self.mutate(
            "connectSequenceByFilter",
            {
                "sequenceId": self.objects["active"],
                "filter": {"stage": self.unique("none")},
                "asJob": True,
            },
            "job { id }",
        )
        return str(payload["job"]["id"])

    async def record(self, owner: str = "admin") -> str:
        ext = self.unique("R")
        payload = await self.mutate(
            "upsertRecords",
            {
                "records": [
                    {
                        "recordType": "lead",
                        "externalId": ext,
                        "name": f"Lead {ext}",
                        "ownerUserId": self.user_ids[owner],
                        "fields": {"first_name": "Ann", "email": f"{ext.lower()}@example.com"},
                    }
                ]
            },
            "results { record { id } errors { code } }",
        )
        return payload["results"][0]["record"]["id"]

    async def connection(self, paused: bool = False) -> str:
        payload = await self.mutate(
            "connectSequence",
            {"sequenceId": self.objects["active"], "records": [{"id": await self.record()}]},
            "results { connection { id } errors { code } }",
        )
        [result] = payload["results"]
        assert not result["errors"], result
        connection = result["connection"]["id"]
        if paused:
            await self.mutate("pauseConnection", {"connectionId": connection}, "connection { id }")
        return connection

    async def activity(self) -> str:
        """An open activity assigned to the administrator (the record's owner)."""
        connection = await self.connection()
        await self.engine.run_until_idle()
        data = await self.ok(
            "query($id: ID!) { node(id: $id) { ... on SequenceTarget { activities { id } } } }",
            {"id": connection},
        )
        return data["node"]["activities"][0]["id"]

    async def team(self, member: str | None = None) -> str:
        team = (
            await self.mutate(
                "createTeam", {"name": self.unique("Team "), "kind": "OWNER"}, "team { id }"
            )
        )["team"]["id"]
        if member:
            await self.mutate(
                "setTeamMember", {"teamId": team, "userId": self.user_ids[member]}, "team { id }"
            )
        return team

    async def tag(self, parent: str | None = None) -> str:
        return (
            await self.mutate(
                "createTag", {"name": self.unique("tag"), "parentId": parent}, "tag { id }"
            )
        )["tag"]["id"]

    async def token_of(self, role: str) -> str:
        payload = await self.mutate(
            "createApiToken",
            {"name": self.unique("t"), "userId": self.user_ids[role]},
            "token { id }",
        )
        return payload["token"]["id"]


async def build_world(http: httpx.AsyncClient, db: Database, engine: Any) -> World:
    admin = await new_org(http, db)
    world = World(admin=admin, other=await new_org(http, db), engine=engine)
    world.tokens = {"anonymous": None, "admin": admin.token}
    for role, name in ROLE_NAMES.items():
        _, world.tokens[role] = await admin.user([name])
    for role in ("salesperson", "sales_manager", "sequence_manager", "admin"):
        me = await admin.as_token(world.tokens[role]).ok("{ viewer { user { id } } }")
        world.user_ids[role] = me["viewer"]["user"]["id"]
    for caller, scope in SCOPED.items():
        created = await admin.mutate(
            "createApiToken", {"name": caller, "scopes": [scope]}, "secret token { scopes }"
        )
        assert created["token"]["scopes"] == [scope], created
        world.tokens[caller] = created["secret"]
    world.seen.update(world.user_ids.values())
    org = await world.mutate(
        "updateOrganizationSettings", {"skipNonWorkingTime": False}, "organization { id }"
    )
    world.objects["organization"] = org["organization"]["id"]
    world.objects["active"] = (await world.sequence(active=True, skipNonWorkingTime=False))["id"]
    email = await world.sequence(tasks=0)
    await world.mutate(
        "addStep",
        {
            "sequenceId": email["id"],
            "afterStepId": email["steps"][0]["id"],
            "branch": "NEXT",
            "type": "email.auto",
            "config": AUTO,
        },
        "step { id }",
    )
    await world.mutate(
        "setSequenceOptions",
        {"sequenceId": email["id"], "skipNonWorkingTime": False},
        "sequence { id }",
    )
    await world.mutate("activateSequence", {"sequenceId": email["id"]}, "sequence { id }")
    await world.mutate(
        "connectSequence",
        {"sequenceId": email["id"], "records": [{"id": await world.record()}]},
        "results { connection { id } }",
    )
    world.objects["sequence"] = (await world.sequence(tasks=2))["id"]
    world.objects["record"] = await world.record()
    world.objects["connection"] = await world.connection()
    world.objects["paused"] = await world.connection(paused=True)
    world.objects["activity"] = await world.activity()
    world.objects["team"] = await world.team(member="salesperson")
    world.objects["tag"] = await world.tag()
    world.objects["record_type"] = (
        await world.mutate(
            "createRecordType",
            {
                "name": "deal",
                "displayName": "Deal",
                "stages": ["open", "won"],
                "fields": [{"name": "size", "type": "NUMBER", "required": False}],
            },
            "recordType { id }",
        )
    )["recordType"]["id"]
    world.objects["template"] = (
        await world.mutate(
            "saveAsTemplate",
            {"sequenceId": world.objects["sequence"], "name": "House template"},
            "template { id }",
        )
    )["template"]["id"]
    world.objects["token"] = await world.token_of("salesperson")
    outbox = await world.ok("{ outbox { nodes { id } } }")
    world.objects["outbox"] = outbox["outbox"]["nodes"][0]["id"]
    world.objects["job"] = await world.job()
    # Everything organization A holds, as its administrator sees it.
    await world.ok(
        "{ users { nodes { id } } teams { nodes { id } } recordTypes { nodes { id } }"
        " records { nodes { id } } sequences { nodes { id steps { id } versions { id } } }"
        " tags { id } connections { nodes { id activities { id } } } outbox { nodes { id } }"
        " sequenceTemplates { id } viewer { organization { id } } }"
    )
    return world
