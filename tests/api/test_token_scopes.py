"""API token scopes through the API: created with scopes, listed, and enforced per operation."""

from __future__ import annotations

import pytest

from sekvens.domain.scopes import Scope, missing_scope, normalized
from tests.conftest import Api

USERS = "{ users { nodes { id } } }"
UPSERT = (
    "mutation($r: [RecordInput!]!) { upsertRecords(input: {records: $r})"
    " { errors { code } results { record { id } } } }"
)


async def scoped(api: Api, *scopes: str) -> tuple[str, str]:
    """A token of the administrator with `scopes`: (token id, secret)."""
    created = await api.mutate(
        "createApiToken", {"name": "integration", "scopes": list(scopes)}, "secret token { id }"
    )
    assert created["errors"] == [], created
    return created["token"]["id"], created["secret"]


def refusal(body: dict) -> dict:
    [error] = body["errors"]
    return {"code": error["extensions"]["code"], "scope": error["extensions"].get("scope")}


async def test_a_records_sync_token_syncs_records_and_nothing_else(api: Api) -> None:
    _, secret = await scoped(api, "RECORDS_SYNC")
    records = [{"recordType": "lead", "externalId": "SCOPE-1", "name": "Scoped"}]
    body = await api.gql(UPSERT, {"r": records}, token=secret)
    assert body["data"]["upsertRecords"]["errors"] == [], body
    # Any token may ask who it is.
    assert (await api.ok("{ viewer { user { email } } }", token=secret))["viewer"]["user"]
    # Reading needs READ; other mutations need FULL; the error names the scope and field.
    body = await api.gql(USERS, token=secret)
    assert body["data"] is None and refusal(body) == {"code": "FORBIDDEN", "scope": "READ"}
    assert body["errors"][0]["extensions"]["field"] == ["users"]
    assert "READ" in body["errors"][0]["message"]
    body = await api.gql(
        'mutation { createTeam(input: {name: "T", kind: OWNER}) { errors { code } } }',
        token=secret,
    )
    assert refusal(body) == {"code": "FORBIDDEN", "scope": "FULL"}


async def test_an_operation_with_one_field_out_of_scope_runs_nothing(api: Api) -> None:
    _, secret = await scoped(api, "RECORDS_SYNC")
    records = [{"recordType": "lead", "externalId": "SCOPE-2", "name": "Never"}]
    body = await api.gql(
        "mutation($r: [RecordInput!]!) { upsertRecords(input: {records: $r}) { errors { code } }"
        ' ... on Mutation { createTeam(input: {name: "Never", kind: OWNER}) { errors { code } } } }',
        {"r": records},
        token=secret,
    )
    assert refusal(body) == {"code": "FORBIDDEN", "scope": "FULL"}
    found = await api.ok('{ records(filter: {externalIds: ["SCOPE-2"]}) { nodes { id } } }')
    assert found["records"]["nodes"] == []
    teams = await api.ok("{ teams { nodes { name } } }")
    assert "Never" not in [t["name"] for t in teams["teams"]["nodes"]]


async def test_a_read_token_reads_and_an_events_token_reports_events(api: Api) -> None:
    _, reader = await scoped(api, "READ")
    assert "users" in await api.ok(USERS, token=reader)
    body = await api.gql(UPSERT, {"r": []}, token=reader)
    assert refusal(body) == {"code": "FORBIDDEN", "scope": "RECORDS_SYNC"}
    _, events = await scoped(api, "ENGAGEMENT_EVENTS")
    body = await api.gql(
        "mutation { recordEngagementEvents(input: {events: []}) { errors { code } } }",
        token=events,
    )
    assert body["data"]["recordEngagementEvents"]["errors"] == [], body
    assert refusal(await api.gql(USERS, token=events))["scope"] == "READ"
    # Scopes combine.
    _, both = await scoped(api, "READ", "RECORDS_SYNC")
    assert "users" in await api.ok(USERS, token=both)
    assert (await api.gql(UPSERT, {"r": []}, token=both))["data"]["upsertRecords"]


async def test_a_narrow_token_cannot_make_itself_a_wider_one(api: Api) -> None:
    _, secret = await scoped(api, "READ")
    payload = await api.gql(
        'mutation { createApiToken(input: {name: "wider", scopes: [FULL]}) { secret } }',
        token=secret,
    )
    assert refusal(payload) == {"code": "FORBIDDEN", "scope": "FULL"}


async def test_tokens_list_their_scopes_and_last_use(api: Api) -> None:
    token_id, secret = await scoped(api, "READ", "READ", "ENGAGEMENT_EVENTS")
    await api.ok("{ viewer { user { id } } }", token=secret)
    data = await api.ok("{ viewer { user { apiTokens { id name scopes lastUsedAt revokedAt } } } }")
    [token] = [t for t in data["viewer"]["user"]["apiTokens"] if t["id"] == token_id]
    assert token["scopes"] == ["READ", "ENGAGEMENT_EVENTS"] and token["lastUsedAt"]
    # FULL with anything else is FULL; no scope at all is refused.
    full_id, _ = await scoped(api, "FULL", "READ")
    data = await api.ok("{ viewer { user { apiTokens { id scopes } } } }")
    scopes = {t["id"]: t["scopes"] for t in data["viewer"]["user"]["apiTokens"]}
    assert scopes[full_id] == ["FULL"]
    payload = await api.mutate("createApiToken", {"name": "none", "scopes": []}, "secret")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_VALUE", ["scopes"])]
    assert payload["secret"] is None


async def test_only_the_user_and_administrators_see_a_users_tokens(api: Api) -> None:
    _, seller_token = await api.user(["SALESPERSON"], email="scoped-seller@example.com")
    data = await api.as_token(seller_token).ok("{ users { nodes { email apiTokens { id } } } }")
    seen = {u["email"]: u["apiTokens"] for u in data["users"]["nodes"]}
    assert len(seen["scoped-seller@example.com"]) == 1  # their own
    assert {e for e, t in seen.items() if t is None} == set(seen) - {"scoped-seller@example.com"}
    admin_view = await api.ok("{ users { nodes { apiTokens { id } } } }")
    assert all(u["apiTokens"] is not None for u in admin_view["users"]["nodes"])


@pytest.mark.parametrize(
    ("scopes", "kind", "field", "missing"),
    [
        ({Scope.READ}, "query", "users", None),
        ({Scope.READ}, "subscription", "upNextChanged", None),
        ({Scope.READ}, "mutation", "upsertRecords", Scope.RECORDS_SYNC),
        ({Scope.RECORDS_SYNC}, "query", "viewer", None),
        ({Scope.RECORDS_SYNC}, "query", "__schema", None),
        ({Scope.RECORDS_SYNC}, "mutation", "recordEngagementEvents", Scope.ENGAGEMENT_EVENTS),
        ({Scope.ENGAGEMENT_EVENTS}, "subscription", "upNextChanged", Scope.READ),
        ({Scope.FULL}, "mutation", "deleteSequence", None),
        (set(), "mutation", "deleteSequence", Scope.FULL),
    ],
)
def test_missing_scope(scopes: set[Scope], kind: str, field: str, missing: Scope | None) -> None:
    assert missing_scope(frozenset(scopes), kind, field) == missing


def test_normalized_scopes() -> None:
    assert normalized([Scope.ENGAGEMENT_EVENTS, Scope.READ, Scope.READ]) == (
        Scope.READ,
        Scope.ENGAGEMENT_EVENTS,
    )
    assert normalized([Scope.READ, Scope.FULL]) == (Scope.FULL,)
