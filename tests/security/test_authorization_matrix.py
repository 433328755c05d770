"""The authorization matrix: every query field and mutation of the schema, by every kind of caller.

The operations are read from the built schema, so an operation without a row here fails
(`test_every_operation_has_a_row`, and its own case below). Rows are grouped by who may do
the thing; a row names its exceptions. Callers:

* `anonymous`: no token;
* `salesperson`, `sales_manager`, `sequence_manager`, `admin`: users of organization A with
  that one role (`admin` is SYSTEM_ADMINISTRATOR);
* `other_admin`: the administrator of organization B, calling with organization A's ids.

Outcomes: `OK` (no error at all), `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND` (a not-found
code: organization A's object does not exist for this caller), `NULL` (the field is null),
and `OWN_ORG` (it works, on the caller's own organization: the operation names nothing of
A's). For `other_admin`, whatever the outcome, the response must hold no id of A's besides
those it sent.

Each case runs its operation with a fresh target where the operation may succeed, so cells
don't depend on one another. Subscriptions are covered in tests/engine/test_subscriptions.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLInterfaceType, GraphQLObjectType, get_named_type

from sekvens.actions import login_links
from sekvens.domain.global_ids import from_global_id, to_global_id
from sekvens.domain.webhooks import WebhookMessageStatus, new_message_id
from sekvens.graphql_schema import build_schema
from sekvens.schema.cost import is_connection
from sekvens.storage.db import Database
from sekvens.storage.tables import User, WebhookMessage
from sekvens.storage.types import utcnow
from tests.conftest import Api
from tests.security.world import ROLES, SCOPED, World, build_world, ids_in

OK, OWN_ORG, NULL = "OK", "OWN_ORG", "NULL"
UNAUTHENTICATED, FORBIDDEN, NOT_FOUND = "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"
#: Codes that say "no such thing here" (for a caller of another organization).
HIDDEN = {
    "NOT_FOUND",
    "UNKNOWN_USER",
    "UNKNOWN_TEAM",
    "UNKNOWN_RECORD_TYPE",
    "OTHER_ORGANIZATION",
    "UNKNOWN_MESSAGE",  # a bounce of another organization's email
}

EVERYONE = frozenset({"salesperson", "sales_manager", "sequence_manager", "admin"})
EDITORS = frozenset({"sales_manager", "sequence_manager", "admin"})  # organization sequences
RECORD_WRITERS = EDITORS
SEQUENCE_ADMINS = frozenset({"sequence_manager", "admin"})  # tags, owners, export/import
ADMINS = frozenset({"admin"})

SCHEMA = build_schema()._schema
QUERIES = sorted(SCHEMA.query_type.fields)
MUTATIONS = sorted(SCHEMA.mutation_type.fields)

Prepare = Callable[[World], Awaitable[dict[str, Any]]]


@dataclass
class Row:
    """Who may run one operation: `allowed` roles get OK, other users FORBIDDEN, anonymous
    UNAUTHENTICATED, organization B's administrator `cross`; `exceptions` override a cell."""

    prepare: Prepare
    allowed: frozenset[str]
    cross: str = NOT_FOUND
    select: str = ""
    exceptions: dict[str, str] = field(default_factory=dict)
    #: The scope a token needs besides FULL; ANY: any token will do.
    scope: str = "FULL"
    #: Each caller calls with a new token of its own (the operation revokes it).
    fresh_token: bool = False

    def expected(self, role: str) -> str:
        if role in SCOPED:  # the administrator, through a token of one scope
            if self.scope in (SCOPED[role], "ANY"):
                return self.expected("admin")
            return FORBIDDEN
        if role in self.exceptions:
            return self.exceptions[role]
        if role == "anonymous":
            return UNAUTHENTICATED
        if role == "other_admin":
            return self.cross
        return OK if role in self.allowed else FORBIDDEN


def row(
    prepare: Prepare,
    allowed: frozenset[str],
    cross: str = NOT_FOUND,
    select: str = "",
    scope: str = "FULL",
    fresh_token: bool = False,
    **exceptions: str,
) -> Row:
    return Row(prepare, allowed, cross, select, exceptions, scope, fresh_token)


def obj(name: str) -> Prepare:
    async def prepare(w: World) -> dict[str, Any]:
        return {"id": w.objects[name]}

    return prepare


# --- Queries: who reads; variables point at organization A's objects --------------------------


@dataclass
class QueryRow:
    document: str
    variables: Callable[[World], dict[str, Any]] = lambda w: {}
    allowed: frozenset[str] = EVERYONE
    cross: str = OWN_ORG

    def expected(self, name: str, role: str) -> str:
        if role == "anonymous":
            return UNAUTHENTICATED
        if role == "other_admin":
            return self.cross
        if role in SCOPED:  # queries need READ; any token may ask who it is
            if SCOPED[role] != "READ" and name != "viewer":
                return FORBIDDEN
            role = "admin"
        return OK if role in self.allowed else FORBIDDEN


QUERY_ROWS: dict[str, QueryRow] = {
    "viewer": QueryRow("{ viewer { user { id } organization { id } roles } }"),
    "organization": QueryRow("{ organization { id name } }"),
    "node": QueryRow(
        "query($id: ID!) { node(id: $id) { id } }",
        lambda w: {"id": w.objects["sequence"]},
        cross=NULL,
    ),
    "users": QueryRow("{ users { nodes { id teams { team { id } } } } }"),
    "teams": QueryRow("{ teams { nodes { id members { user { id } } } } }"),
    "recordTypes": QueryRow("{ recordTypes { nodes { id } } }"),
    "records": QueryRow(
        "query($owner: ID) { records(filter: {ownerUserId: $owner}) { nodes { id } } }",
        lambda w: {"owner": w.user_ids["admin"]},
    ),
    "stepTypes": QueryRow("{ stepTypes { key } }"),
    "sequences": QueryRow(
        "query($owner: ID, $tag: ID!) { a: sequences(filter: {ownerId: $owner}) { nodes { id } }"
        " b: sequences(filter: {tagIds: [$tag]}) { nodes { id } } }",
        lambda w: {"owner": w.user_ids["admin"], "tag": w.objects["tag"]},
    ),
    "sequence": QueryRow(
        "query($id: ID!) { sequence(id: $id) { id steps { id } } }",
        lambda w: {"id": w.objects["sequence"]},
        cross=NULL,
    ),
    "tags": QueryRow(
        "query($parent: ID) { tags(parentId: $parent) { id } }",
        lambda w: {"parent": w.objects["tag"]},
        cross=NOT_FOUND,
    ),
    "sequenceTemplates": QueryRow("{ sequenceTemplates { id } }"),
    "upNext": QueryRow(
        "query($seq: ID) { upNext(filter: {sequenceId: $seq}) { nodes { id } } }",
        lambda w: {"seq": w.objects["active"]},
    ),
    "connections": QueryRow(
        "query($seq: ID, $rec: ID) { a: connections(filter: {sequenceId: $seq}) { nodes { id } }"
        " b: connections(filter: {recordId: $rec}) { nodes { id } } }",
        lambda w: {"seq": w.objects["active"], "rec": w.objects["record"]},
    ),
    "outbox": QueryRow("{ outbox { nodes { id } } }", allowed=EDITORS),
    # Everyone reads their own grid layout; there is nothing of another user's to ask for.
    "gridPreferences": QueryRow("{ gridPreferences { view columns { column width } } }"),
    "suppressedAddresses": QueryRow(
        "{ suppressedAddresses { nodes { address } } }", allowed=EDITORS
    ),
    # Webhook endpoints and their delivery log: administrators.
    "webhookEndpoints": QueryRow("{ webhookEndpoints { nodes { id } } }", allowed=ADMINS),
    "webhookMessages": QueryRow(
        "query($e: ID!) { webhookMessages(endpointId: $e) { nodes { id } } }",
        lambda w: {"e": w.objects["webhook_endpoint"]},
        allowed=ADMINS,
        cross=NOT_FOUND,
    ),
    # A job: its creator (here the administrator) and the organization's managers.
    "job": QueryRow(
        "query($id: ID!) { job(id: $id) { id status } }",
        lambda w: {"id": w.objects["job"]},
        allowed=EDITORS,
        cross=NOT_FOUND,
    ),
    # Jobs: everyone lists their own; managers and administrators the organization's.
    "jobs": QueryRow("{ jobs(first: 5, status: QUEUED) { nodes { id status } } }"),
    # The timeline preview: whoever may connect the record (managers and administrators any
    # record; a salesperson their own: here the administrator's record, FORBIDDEN;
    # tests/engine/test_sequence_preview.py::test_a_salesperson_previews_only_records_they_may_connect).
    "sequencePreview": QueryRow(
        "query($s: ID!, $r: ID!) { sequencePreview(sequenceId: $s, recordId: $r)"
        " { startsAt assignee { id } steps { key reachedAt } } }",
        lambda w: {"s": w.objects["active"], "r": w.objects["record"]},
        allowed=EDITORS,
        cross=NOT_FOUND,
    ),
    # The whole organization's audit trail: administrators.
    "auditLog": QueryRow(
        "{ auditLog(first: 5) { nodes { action entityId actor { id } token { id } } } }",
        allowed=ADMINS,
    ),
}


# --- Mutations ------------------------------------------------------------------------------


async def _seq(w: World, **kw: Any) -> dict[str, Any]:
    return {"sequenceId": (await w.sequence(**kw))["id"]}


def seq_input(**extra: Any) -> Prepare:
    async def prepare(w: World) -> dict[str, Any]:
        return {**(await _seq(w)), **extra}

    return prepare


async def p_update_user(w: World) -> dict[str, Any]:
    return {"userId": w.user_ids["salesperson"], "name": w.unique("Sam ")}


async def p_add_step(w: World) -> dict[str, Any]:
    seq = await w.sequence(tasks=0)
    return {
        "sequenceId": seq["id"],
        "afterStepId": seq["steps"][0]["id"],
        "branch": "NEXT",
        "type": "core.task",
        "config": {"subject": "x"},
    }


async def p_update_step(w: World) -> dict[str, Any]:
    return {"stepId": (await w.sequence())["steps"][1]["id"], "name": "Renamed"}


async def p_move_step(w: World) -> dict[str, Any]:
    steps = (await w.sequence(tasks=2))["steps"]
    return {"stepId": steps[2]["id"], "afterStepId": steps[0]["id"], "branch": "NEXT"}


async def p_remove_step(w: World) -> dict[str, Any]:
    return {"stepId": (await w.sequence())["steps"][1]["id"]}


async def p_set_steps(w: World) -> dict[str, Any]:
    return {
        **(await _seq(w)),
        "steps": [
            {"key": "s", "type": "core.start"},
            {
                "key": "t",
                "type": "core.task",
                "config": {"subject": "x"},
                "parentKey": "s",
                "branch": "NEXT",
            },
        ],
    }


async def p_active(w: World) -> dict[str, Any]:
    return await _seq(w, active=True)


async def p_revised(w: World) -> dict[str, Any]:
    """An active sequence with an open draft revision."""
    target = await _seq(w, active=True)
    await w.mutate("createSequenceRevision", target, "sequence { id }")
    return target


async def p_connect(w: World) -> dict[str, Any]:
    return {"sequenceId": w.objects["active"], "records": [{"id": await w.record()}]}


async def p_connect_by_filter(w: World) -> dict[str, Any]:
    await w.record()
    return {"sequenceId": w.objects["active"], "filter": {"ownerUserId": w.user_ids["admin"]}}


async def p_job(w: World) -> dict[str, Any]:
    return {"id": await w.job()}


async def p_connection(w: World) -> dict[str, Any]:
    return {"connectionId": await w.connection()}


async def p_paused(w: World) -> dict[str, Any]:
    return {"connectionId": await w.connection(paused=True)}


def activity(**extra: Any) -> Prepare:
    async def prepare(w: World) -> dict[str, Any]:
        return {"activityId": await w.activity(), **extra}

    return prepare


async def p_snooze(w: World) -> dict[str, Any]:
    until = w.engine.clock.now() + timedelta(days=1)  # the tests' clock moves forward
    return {"activityId": await w.activity(), "until": until.isoformat()}


async def p_reassign(w: World) -> dict[str, Any]:
    return {"activityId": await w.activity(), "userIds": [w.user_ids["sales_manager"]]}


async def p_act_on_activities(w: World) -> dict[str, Any]:
    until = w.engine.clock.now() + timedelta(days=1)
    return {"activityIds": [await w.activity()], "action": "SNOOZE", "until": until.isoformat()}


async def p_events(w: World) -> dict[str, Any]:
    return {
        "events": [
            {
                "eventId": w.unique("e"),
                "kind": "EMAIL_REPLIED",
                "activityId": w.objects["activity"],
                "occurredAt": w.engine.clock.now().isoformat(),
            }
        ]
    }


async def p_bounces(w: World) -> dict[str, Any]:
    """A soft bounce of organization A's automated email (soft: the world's connection and
    address stay as they are)."""
    nodes = (await w.ok("{ outbox { nodes { id messageId to } } }"))["outbox"]["nodes"]
    [found] = [n for n in nodes if n["id"] == w.objects["outbox"]]
    sample = Path(__file__).parent.parent / "fixtures" / "mail" / "dsn_postfix_delayed.eml"
    raw = sample.read_text().replace("full@prospect.example", found["to"])
    raw = raw.replace("<5b1d9e0c@sekvens.local>", found["messageId"])
    return {"messages": [raw]}


async def p_user_away(w: World) -> dict[str, Any]:
    """The salesperson away from tomorrow for a week."""
    start = w.engine.clock.now() + timedelta(days=1)
    return {
        "userId": w.user_ids["salesperson"],
        "from": start.isoformat(),
        "until": (start + timedelta(days=7)).isoformat(),
    }


async def p_clear_away(w: World) -> dict[str, Any]:
    return {"userId": w.user_ids["salesperson"]}


async def p_variant_winner(w: World) -> dict[str, Any]:
    """An inactive sequence whose automated email tests a variant B."""
    seq = await w.sequence(tasks=0)
    template = {"subject": "A", "body": "a"}
    config = {"template": template, "variants": [{"subject": "B", "body": "b"}]}
    step = await w.mutate(
        "addStep",
        {
            "sequenceId": seq["id"],
            "afterStepId": seq["steps"][0]["id"],
            "branch": "NEXT",
            "type": "email.auto",
            "config": config,
        },
        "step { key }",
    )
    return {"sequenceId": seq["id"], "stepKey": step["step"]["key"], "variant": "B"}


async def p_team(w: World) -> dict[str, Any]:
    return {"teamId": await w.team()}


async def p_team_member(w: World) -> dict[str, Any]:
    return {"teamId": await w.team(), "userId": w.user_ids["salesperson"]}


async def p_remove_member(w: World) -> dict[str, Any]:
    return {"teamId": await w.team(member="salesperson"), "userId": w.user_ids["salesperson"]}


async def p_record_type(w: World) -> dict[str, Any]:
    return {"recordTypeId": w.objects["record_type"], "displayName": w.unique("Deal ")}


async def p_add_field(w: World) -> dict[str, Any]:
    return {
        "recordTypeId": w.objects["record_type"],
        "field": {"name": w.unique("f_"), "type": "TEXT", "required": False},
    }


async def p_update_field(w: World) -> dict[str, Any]:
    return {"recordTypeId": w.objects["record_type"], "name": "size", "displayName": "Size"}


async def p_create_record_type(w: World) -> dict[str, Any]:
    return {"name": w.unique("rt"), "displayName": "Thing", "stages": [], "fields": []}


async def p_upsert(w: World) -> dict[str, Any]:
    return {
        "records": [
            {"recordType": "lead", "externalId": w.unique("U"), "ownerUserId": w.user_ids["admin"]}
        ]
    }


async def p_create_tag(w: World) -> dict[str, Any]:
    return {"name": w.unique("t"), "parentId": w.objects["tag"]}


async def p_tag(w: World) -> dict[str, Any]:
    return {"tagId": await w.tag()}


async def p_rename_tag(w: World) -> dict[str, Any]:
    return {"tagId": await w.tag(), "name": w.unique("r")}


async def p_set_tags(w: World) -> dict[str, Any]:
    return {**(await _seq(w)), "tagIds": [w.objects["tag"]]}


async def p_save_template(w: World) -> dict[str, Any]:
    return {**(await _seq(w)), "name": w.unique("Template ")}


async def p_create_sequence(w: World) -> dict[str, Any]:
    return {"name": w.unique("New "), "templateId": w.objects["template"]}


async def p_create_user(w: World) -> dict[str, Any]:
    return {"email": f"{w.unique('u')}@example.com", "name": "New", "roles": ["SALESPERSON"]}


async def p_set_roles(w: World) -> dict[str, Any]:
    return {"userId": w.user_ids["salesperson"], "roles": ["SALESPERSON"]}


async def p_create_token(w: World) -> dict[str, Any]:
    return {"name": w.unique("t"), "userId": w.user_ids["salesperson"]}


async def p_revoke_token(w: World) -> dict[str, Any]:
    return {"tokenId": await w.token_of("salesperson")}


async def p_login_link(w: World) -> dict[str, Any]:
    """The code of a new sign-in link of the salesperson's."""
    async with w.admin.db.session(write=True) as session, session.begin():
        user = await session.get(User, int(from_global_id(w.user_ids["salesperson"])[1]))
        assert user is not None
        return {"code": await login_links.create_login_link(session, user)}


async def p_nothing(w: World) -> dict[str, Any]:
    return {}


async def fresh_api(w: World, role: str) -> Api:
    """`role`'s caller with a new token of its own user and scopes (anonymous: no token)."""
    if role == "anonymous":
        return w.api(role)
    if role == "other_admin":
        made = await w.other.mutate("createApiToken", {"name": w.unique("t")}, "secret")
        return w.other.as_token(made["secret"])
    if role in SCOPED:
        wanted: dict[str, Any] = {"scopes": [SCOPED[role]]}
    else:
        wanted = {"userId": w.user_ids[role]}
    made = await w.mutate("createApiToken", {"name": w.unique("t"), **wanted}, "secret")
    return w.admin.as_token(made["secret"])


async def p_create_team(w: World) -> dict[str, Any]:
    return {"name": w.unique("Team "), "kind": "ACCESS"}


async def p_settings(w: World) -> dict[str, Any]:
    return {"defaultTimeZone": "Europe/Oslo"}


async def p_owner(w: World) -> dict[str, Any]:
    return {**(await _seq(w)), "userId": w.user_ids["sales_manager"]}


async def p_export(w: World) -> dict[str, Any]:
    return {"sequenceIds": [w.objects["sequence"]], "includeDependencies": False}


async def p_import(w: World) -> dict[str, Any]:
    exported = await w.mutate(
        "exportSequences",
        {"sequenceIds": [w.objects["sequence"]], "includeDependencies": False},
        "document",
    )
    return {"document": exported["document"], "mode": "APPLY", "onConflict": "COPY"}


async def p_grid_layout(w: World) -> dict[str, Any]:
    return {"columns": [{"column": "NAME", "width": 240}, {"column": "STATUS"}]}


async def p_suppress(w: World) -> dict[str, Any]:
    return {"addresses": ["nobody@example.com"]}


#: A public address (an IP, so no DNS is needed); only SEQUENCE_REVISED, which no cell
#: sends, so nothing is ever posted there.
HOOK = {"url": "https://93.184.215.14:9/hooks", "eventTypes": ["SEQUENCE_REVISED"]}


async def p_create_webhook(w: World) -> dict[str, Any]:
    return dict(HOOK)


async def p_webhook(w: World) -> dict[str, Any]:
    payload = await w.mutate("createWebhookEndpoint", HOOK, "endpoint { id }")
    return {"id": payload["endpoint"]["id"]}


async def p_webhook_message(w: World) -> dict[str, Any]:
    """A FAILED message of a new endpoint (written directly: nothing is delivered here)."""
    endpoint = int(from_global_id((await p_webhook(w))["id"])[1])
    async with w.admin.db.session(write=True) as session, session.begin():
        row = WebhookMessage(
            organization_id=w.admin.org_id,
            endpoint_id=endpoint,
            message_id=new_message_id(),
            event_type="sequence.revised",
            payload={},
            occurred_at=utcnow(),
            status=WebhookMessageStatus.FAILED,
            attempts=8,
        )
        session.add(row)
        await session.flush()
        return {"id": to_global_id("WebhookMessage", row.id)}


@pytest.fixture(scope="module", autouse=True)
async def webhook_objects(world: World) -> None:
    """world.objects["webhook_endpoint"] and ["webhook_message"], of organization A."""
    message = await p_webhook_message(world)
    listed = await world.ok("{ webhookEndpoints { nodes { id } } }")
    world.objects["webhook_endpoint"] = listed["webhookEndpoints"]["nodes"][-1]["id"]
    world.objects["webhook_message"] = message["id"]


MUTATION_ROWS: dict[str, Row] = {
    # Organization administration: the system administrator only.
    "updateOrganizationSettings": row(p_settings, ADMINS, cross=OWN_ORG),
    "createUser": row(p_create_user, ADMINS, cross=OWN_ORG),
    "setUserRoles": row(p_set_roles, ADMINS),
    "createTeam": row(p_create_team, ADMINS, cross=OWN_ORG),
    "updateTeam": row(p_team, ADMINS),
    "deleteTeam": row(p_team, ADMINS),
    "setTeamMember": row(p_team_member, ADMINS),
    "removeTeamMember": row(p_remove_member, ADMINS),
    "createRecordType": row(p_create_record_type, ADMINS, cross=OWN_ORG),
    "updateRecordType": row(p_record_type, ADMINS),
    "addRecordField": row(p_add_field, ADMINS),
    "updateRecordField": row(p_update_field, ADMINS),
    # ...with exceptions for one's own profile and tokens (the target is the salesperson).
    "updateUser": row(p_update_user, ADMINS, salesperson=OK),
    # Away periods: one's own, and the managers' and administrators' for anyone (the target
    # is the salesperson).
    "setUserAway": row(p_user_away, EDITORS, salesperson=OK),
    "clearUserAway": row(p_clear_away, EDITORS, salesperson=OK),
    "createApiToken": row(p_create_token, ADMINS, salesperson=OK, select="token { id }"),
    # (someone else's token is not found rather than forbidden: tokens stay private)
    "revokeApiToken": row(
        p_revoke_token, ADMINS, salesperson=OK, sales_manager=NOT_FOUND, sequence_manager=NOT_FOUND
    ),
    # Web sessions: a sign-in link's code is all it takes (no token needed, none used); any
    # signed-in caller signs its own token out (tests/api/test_login_links.py).
    "exchangeLoginLink": row(
        p_login_link, EVERYONE, OWN_ORG, "token expiresAt", scope="ANY", anonymous=OK
    ),
    "signOut": row(p_nothing, EVERYONE, OWN_ORG, "revoked", scope="ANY", fresh_token=True),
    # Records come in from integrations running as managers or administrators.
    "upsertRecords": row(
        p_upsert, RECORD_WRITERS, select="results { errors { code } }", scope="RECORDS_SYNC"
    ),
    # Organization sequences: editors (a salesperson has personal sequences only).
    "createSequence": row(p_create_sequence, EDITORS),
    "updateSequence": row(seq_input(name="Renamed"), EDITORS),
    "addStep": row(p_add_step, EDITORS),
    "updateStep": row(p_update_step, EDITORS),
    "moveStep": row(p_move_step, EDITORS),
    "removeStep": row(p_remove_step, EDITORS),
    "setSequenceSteps": row(p_set_steps, EDITORS),
    "setSequenceAssignment": row(seq_input(assignTo="RECORD_OWNER"), EDITORS),
    "setSequenceOptions": row(seq_input(exitOnReply=False), EDITORS),
    "setEnrollmentRules": row(seq_input(rules=[]), EDITORS),
    "activateSequence": row(seq_input(), EDITORS),
    "deactivateSequence": row(p_active, EDITORS),
    "createSequenceRevision": row(p_active, EDITORS),
    "discardSequenceRevision": row(p_revised, EDITORS),
    "deleteSequence": row(seq_input(), EDITORS),
    "setSequenceTags": row(p_set_tags, EDITORS),
    "saveAsTemplate": row(p_save_template, EDITORS),
    "chooseVariantWinner": row(p_variant_winner, EDITORS),
    # Anyone who sees a sequence may copy it (a salesperson's copy is personal).
    "cloneSequence": row(seq_input(), EVERYONE),
    # Owners, tags, and moving sequences between environments: sequence administrators.
    "assignSequenceOwner": row(p_owner, SEQUENCE_ADMINS),
    "createTag": row(p_create_tag, SEQUENCE_ADMINS),
    "updateTag": row(p_rename_tag, SEQUENCE_ADMINS),
    "deleteTag": row(p_tag, SEQUENCE_ADMINS),
    "exportSequences": row(p_export, SEQUENCE_ADMINS),
    "importSequences": row(p_import, SEQUENCE_ADMINS, cross=OWN_ORG),
    # Running sequences: managers and administrators connect any record and act on any
    # connection; a salesperson only on their own work (here the administrator's record and
    # connection: FORBIDDEN; their own work: test_sellers_act_on_their_own_work). A salesperson's
    # connect by filter runs, skipping others' records as FORBIDDEN.
    "connectSequence": row(p_connect, EDITORS, select="results { errors { code } }"),
    "connectSequenceByFilter": row(p_connect_by_filter, EVERYONE),
    "disconnectSequence": row(p_connection, EDITORS),
    "pauseConnection": row(p_connection, EDITORS),
    "resumeConnection": row(p_paused, EDITORS),
    # Engagement events come from integrations (managers' and administrators' tokens).
    "recordEngagementEvents": row(
        p_events, RECORD_WRITERS, select="results { errors { code } }", scope="ENGAGEMENT_EVENTS"
    ),
    "recordBounceMessages": row(
        p_bounces, RECORD_WRITERS, select="results { errors { code } }", scope="ENGAGEMENT_EVENTS"
    ),
    "recordInboundMessages": row(
        p_bounces, RECORD_WRITERS, select="results { errors { code } }", scope="ENGAGEMENT_EVENTS"
    ),
    # Activities: their assignees (here the administrator) and the managers.
    "completeActivity": row(activity(), EDITORS),
    "skipActivity": row(activity(), EDITORS),
    "snoozeActivity": row(p_snooze, EDITORS),
    "reassignActivity": row(p_reassign, EDITORS),
    # Many at once: each activity's refusal is in its result.
    "actOnActivities": row(
        p_act_on_activities, EDITORS, select="okCount results { errors { code } }"
    ),
    # The suppression list: anyone adds (a prospect asks a seller to stop), managers remove.
    "addSuppressedAddresses": row(p_suppress, EVERYONE, cross=OWN_ORG, select="addedCount"),
    "removeSuppressedAddresses": row(p_suppress, EDITORS, cross=OWN_ORG, select="removedCount"),
    # Webhooks: the system administrator only.
    "createWebhookEndpoint": row(p_create_webhook, ADMINS, cross=OWN_ORG, select="secret"),
    "updateWebhookEndpoint": row(p_webhook, ADMINS, select="endpoint { id }"),
    "deleteWebhookEndpoint": row(p_webhook, ADMINS, select="deletedId"),
    "rotateWebhookEndpointSecret": row(p_webhook, ADMINS, select="secret"),
    "enableWebhookEndpoint": row(p_webhook, ADMINS, select="endpoint { id }"),
    "redeliverWebhookMessage": row(p_webhook_message, ADMINS, select="message { id }"),
    # A job: its creator (here the administrator) and the organization's managers.
    "cancelJob": row(p_job, EDITORS, select="job { id status }"),
    # One's own grid layout: every signed-in user, for themselves.
    "saveGridPreferences": row(
        p_grid_layout, EVERYONE, cross=OWN_ORG, select="preferences { view }"
    ),
}


# --- Running a cell ---------------------------------------------------------------------------


def codes_in(value: Any) -> set[str]:
    """The `code` of every error object under an `errors` key, at any depth."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "errors" and isinstance(item, list):
                found |= {e["code"] for e in item if isinstance(e, dict) and "code" in e}
            else:
                found |= codes_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= codes_in(item)
    return found


def classify(body: dict[str, Any]) -> str:
    top = {str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []}
    data = body.get("data") or {}
    codes = top | codes_in(data)
    if not codes:
        return NULL if all(v is None for v in data.values()) else OK
    for code in (UNAUTHENTICATED, FORBIDDEN):
        if code in codes:
            return code
    if codes <= HIDDEN:
        return NOT_FOUND
    return "ERRORS " + ",".join(sorted(codes))


def mutation_document(name: str, select: str) -> str:
    input_type = SCHEMA.mutation_type.fields[name].args["input"].type
    return f"mutation($input: {input_type}) {{ {name}(input: $input) {{ errors {{ code }} {select} }} }}"


@pytest.fixture(scope="module")
async def world(http: httpx.AsyncClient, db: Database, app: Any) -> AsyncIterator[World]:
    yield await build_world(http, db, app.state.services.engine)


def check_cell(w: World, role: str, expected: str, got: str, body: Any, sent: Any) -> list[str]:
    problems = []
    if got != (OK if expected == OWN_ORG else expected):
        problems.append(f"{role}: expected {expected}, got {got}: {body}")
    if role == "other_admin" and (leaked := w.leaked(body.get("data"), sent)):
        problems.append(f"{role}: sees organization A's {sorted(leaked)}")
    return problems


def test_every_operation_has_a_row() -> None:
    assert set(QUERIES) == set(QUERY_ROWS), (
        f"queries without a row: {sorted(set(QUERIES) - set(QUERY_ROWS))}; "
        f"rows without a query: {sorted(set(QUERY_ROWS) - set(QUERIES))}"
    )
    assert set(MUTATIONS) == set(MUTATION_ROWS), (
        f"mutations without a row: {sorted(set(MUTATIONS) - set(MUTATION_ROWS))}; "
        f"rows without a mutation: {sorted(set(MUTATION_ROWS) - set(MUTATIONS))}"
    )


@pytest.mark.parametrize("name", QUERIES)
async def test_query(world: World, name: str) -> None:
    entry = QUERY_ROWS.get(name)
    assert entry is not None, f"query {name} has no row in QUERY_ROWS: add one"
    variables = entry.variables(world)
    problems = []
    for role in (*ROLES, *SCOPED):
        expected = entry.expected(name, role)
        body = await world.api(role).gql(entry.document, variables)
        if role == "admin":
            world.seen.update(ids_in(body.get("data")))
        problems += check_cell(world, role, expected, classify(body), body, variables)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", MUTATIONS)
async def test_mutation(world: World, name: str) -> None:
    entry = MUTATION_ROWS.get(name)
    assert entry is not None, f"mutation {name} has no row in MUTATION_ROWS: add one"
    document = mutation_document(name, entry.select)
    shared: dict[str, Any] | None = None
    problems = []
    for role in (*ROLES, *SCOPED):
        expected = entry.expected(role)
        if expected in (OK, OWN_ORG):
            sent = await entry.prepare(world)  # a fresh target: this call may change it
        else:
            shared = shared if shared is not None else await entry.prepare(world)
            sent = shared
        caller = await fresh_api(world, role) if entry.fresh_token else world.api(role)
        body = await caller.gql(document, {"input": sent})
        problems += check_cell(world, role, expected, classify(body), body, sent)
    assert not problems, "\n".join(problems)


# --- node(id:) for every Node type, and every connection field across organizations -----------

#: How to get an id of each Node type of organization A.
NODE_SAMPLES: dict[str, Callable[[World], Awaitable[str]]] = {}


def sample(type_name: str) -> Callable[[Callable[[World], Awaitable[str]]], Any]:
    def register(f: Callable[[World], Awaitable[str]]) -> Any:
        NODE_SAMPLES[type_name] = f
        return f

    return register


def _object(name: str) -> Callable[[World], Awaitable[str]]:
    async def get(w: World) -> str:
        return w.objects[name]

    return get


NODE_SAMPLES.update(
    {
        "Organization": _object("organization"),
        "Sequence": _object("sequence"),
        "Record": _object("record"),
        "SequenceTarget": _object("connection"),
        "Activity": _object("activity"),
        "Team": _object("team"),
        "Tag": _object("tag"),
        "RecordType": _object("record_type"),
        "ApiToken": _object("token"),
        "OutboxMessage": _object("outbox"),
        "WebhookEndpoint": _object("webhook_endpoint"),
        "WebhookMessage": _object("webhook_message"),
        "Job": _object("job"),
    }
)


@sample("User")
async def _user(w: World) -> str:
    return w.user_ids["salesperson"]


@sample("SequenceVersion")
async def _version(w: World) -> str:
    data = await w.ok(
        "query($id: ID!) { sequence(id: $id) { versions { id } } }", {"id": w.objects["sequence"]}
    )
    return data["sequence"]["versions"][0]["id"]


@sample("Step")
async def _step(w: World) -> str:
    data = await w.ok(
        "query($id: ID!) { sequence(id: $id) { steps { id } } }", {"id": w.objects["sequence"]}
    )
    return data["sequence"]["steps"][1]["id"]


#: Node types that `node(id:)` does not load for anyone (read them through their lists).
NOT_BY_NODE = {"ApiToken", "OutboxMessage", "WebhookEndpoint", "WebhookMessage", "Job"}

NODE_TYPES = sorted(
    name
    for name, t in SCHEMA.type_map.items()
    if isinstance(t, GraphQLObjectType) and any(i.name == "Node" for i in t.interfaces)
)


@pytest.mark.parametrize("type_name", NODE_TYPES)
async def test_node_of_every_type(world: World, type_name: str) -> None:
    get = NODE_SAMPLES.get(type_name)
    assert get is not None, f"Node type {type_name} has no sample in NODE_SAMPLES: add one"
    node_id = await get(world)
    query = "query($id: ID!) { node(id: $id) { id __typename } }"
    for role in ROLES[1:]:
        data = (await world.api(role).gql(query, {"id": node_id}))["data"]
        visible = role != "other_admin" and type_name not in NOT_BY_NODE
        expected = {"id": node_id, "__typename": type_name} if visible else None
        assert data == {"node": expected}, (role, type_name, data)
    body = await world.api("anonymous").gql(query, {"id": node_id})
    assert body["errors"][0]["extensions"]["code"] == UNAUTHENTICATED


#: Every connection field of the schema, and how another organization could reach it: root
#: fields are filtered by organization A's ids in the query matrix; nested ones only through
#: a parent that `node`/`sequence` keeps from it (checked below).
NESTED_CONNECTIONS = {
    ("Record", "connections"): ("record", "... on Record { connections { nodes { id } } }"),
    ("Sequence", "connections"): ("active", "... on Sequence { connections { nodes { id } } }"),
    ("Sequence", "auditLog"): ("sequence", "... on Sequence { auditLog { nodes { action } } }"),
    ("SequenceTarget", "auditLog"): (
        "paused",
        "... on SequenceTarget { auditLog { nodes { action token { id } } } }",
    ),
}


def connection_fields() -> set[tuple[str, str]]:
    found = set()
    for name, t in SCHEMA.type_map.items():
        if name.startswith("__") or not isinstance(t, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, f in t.fields.items():
            if is_connection(get_named_type(f.type)):
                found.add((name, field_name))
    return found


#: Nested connections of a type `node` does not load: reached only through the root field
#: named, whose row in the query matrix checks it across organizations.
UNDER_ROOT_FIELD = {("Job", "items"): "job"}


def test_every_connection_field_is_covered() -> None:
    root = {("Query", q) for q in QUERY_ROWS}
    assert set(UNDER_ROOT_FIELD.values()) <= set(QUERY_ROWS)
    uncovered = connection_fields() - root - set(NESTED_CONNECTIONS) - set(UNDER_ROOT_FIELD)
    assert not uncovered, f"connection fields without a cross-organization check: {uncovered}"


@pytest.mark.parametrize("parent_field", sorted(NESTED_CONNECTIONS))
async def test_nested_connection_across_organizations(
    world: World, parent_field: tuple[str, str]
) -> None:
    obj_name, selection = NESTED_CONNECTIONS[parent_field]
    query = f"query($id: ID!) {{ node(id: $id) {{ {selection} }} }}"
    variables = {"id": world.objects[obj_name]}
    mine = await world.api("salesperson").ok(query, variables)
    assert mine["node"] is not None and mine["node"][parent_field[1]]["nodes"], mine
    theirs = await world.other.ok(query, variables)
    assert theirs == {"node": None}


# --- Row-level rules: a salesperson acts on their own work --------------------------------------


async def _record_of(w: World, owner: dict[str, str]) -> str:
    ext = w.unique("S")
    payload = await w.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": ext, "name": ext, **owner}]},
        "results { record { id } }",
    )
    return payload["results"][0]["record"]["id"]


async def test_sellers_act_on_their_own_work(world: World) -> None:
    """A salesperson connects records they or their teams own, and acts on connections they
    made, of their records, or with an activity assigned to them; nothing else."""
    w, seller = world, world.api("salesperson")
    mine = await _record_of(w, {"ownerUserId": w.user_ids["salesperson"]})
    teams = await _record_of(w, {"ownerTeamId": w.objects["team"]})  # the seller is a member
    others = await _record_of(w, {"ownerUserId": w.user_ids["sales_manager"]})
    payload = await seller.mutate(
        "connectSequence",
        {"sequenceId": w.objects["active"], "records": [{"id": r} for r in (mine, teams, others)]},
        "results { connection { id } errors { code field } }",
    )
    own, team, forbidden = payload["results"]
    assert own["connection"] and team["connection"] and not own["errors"] + team["errors"]
    assert forbidden == {
        "connection": None,
        "errors": [{"code": "FORBIDDEN", "field": ["records", "2"]}],
    }
    for name in ("pauseConnection", "resumeConnection", "disconnectSequence"):
        done = await seller.mutate(
            name, {"connectionId": own["connection"]["id"]}, "connection { id }"
        )
        assert not done["errors"], (name, done)

    def act(connection: str) -> Any:
        return seller.mutate("pauseConnection", {"connectionId": connection}, "connection { id }")

    # A colleague's connection of the seller's record: the record is theirs.
    of_my_record = await w.mutate(
        "connectSequence",
        {
            "sequenceId": w.objects["active"],
            "records": [{"id": await _record_of(w, {"ownerUserId": w.user_ids["salesperson"]})}],
        },
        "results { connection { id } }",
    )
    assert not (await act(of_my_record["results"][0]["connection"]["id"]))["errors"]
    # A colleague's record and connection: refused, until an activity of it is assigned to them.
    theirs = await w.connection()
    assert [e["code"] for e in (await act(theirs))["errors"]] == ["FORBIDDEN"]
    await w.engine.run_until_idle()
    data = await w.ok(
        "query($id: ID!) { node(id: $id) { ... on SequenceTarget { activities { id } } } }",
        {"id": theirs},
    )
    await w.mutate(
        "reassignActivity",
        {"activityId": data["node"]["activities"][0]["id"], "userIds": [w.user_ids["salesperson"]]},
        "activity { id }",
    )
    assert not (await act(theirs))["errors"]
    # Connecting by filter skips the records that are not theirs, and says so.
    await _record_of(w, {"ownerUserId": w.user_ids["salesperson"]})
    by_filter = await seller.mutate(
        "connectSequenceByFilter",
        {"sequenceId": w.objects["active"], "filter": {"recordType": "lead"}},
        "matchedCount connectedCount skipped { code count }",
    )
    skipped = {s["code"]: s["count"] for s in by_filter["skipped"]}
    assert by_filter["connectedCount"] >= 1 and skipped["FORBIDDEN"] >= 1
    assert by_filter["matchedCount"] == by_filter["connectedCount"] + sum(skipped.values())
