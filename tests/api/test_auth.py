"""Authentication: no token, a wrong one, a revoked one, an expired one, another organization's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from sekvens.storage import tokens
from sekvens.storage.tables import User
from tests.conftest import Api

VIEWER = "{ viewer { user { email } organization { name } roles } }"


async def test_viewer_with_token(api: Api) -> None:
    data = await api.ok(VIEWER)
    assert data["viewer"]["organization"]["name"] == api.org
    assert data["viewer"]["roles"] == ["SYSTEM_ADMINISTRATOR"]


async def test_no_token_is_unauthenticated(api: Api) -> None:
    body = await api.gql(VIEWER, token=None)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_no_token_mutation_gets_payload_error(api: Api) -> None:
    payload = await api.mutate(
        "createTeam", {"name": "X", "kind": "OWNER"}, "team { id }", token=None
    )
    assert payload["errors"][0]["code"] == "UNAUTHENTICATED"


async def test_wrong_token_is_refused_with_401(api: Api) -> None:
    response = await api.post(VIEWER, token="skv_not-a-real-token")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    response = await api.http.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": "Basic abc"}
    )
    assert response.status_code == 401


async def test_revoked_token_is_refused(api: Api) -> None:
    created = await api.mutate("createApiToken", {"name": "ci"}, "token { id } secret")
    secret = created["secret"]
    assert (await api.ok(VIEWER, token=secret))["viewer"]["user"]["email"].startswith("admin@")
    revoked = await api.mutate(
        "revokeApiToken", {"tokenId": created["token"]["id"]}, "token { revokedAt }"
    )
    assert revoked["errors"] == [] and revoked["token"]["revokedAt"]
    assert (await api.post(VIEWER, token=secret)).status_code == 401


async def test_expired_token_is_refused(api: Api) -> None:
    # The API refuses to create an expired token (INVALID_VALUE), so one expires in storage.
    past = datetime.now(UTC) - timedelta(minutes=1)
    async with api.db.session(write=True) as session, session.begin():
        user = await session.scalar(
            select(User).where(User.organization_id == api.org_id, User.email.like("admin@%"))
        )
        assert user is not None
        _, secret = await tokens.create_token(session, user, "old", expires_at=past)
    assert (await api.post(VIEWER, token=secret)).status_code == 401


async def test_other_organization_sees_nothing(api: Api, other_api: Api) -> None:
    mine = await api.ok("{ viewer { user { id } organization { id } } teams { nodes { id } } }")
    user_id = mine["viewer"]["user"]["id"]
    org_id = mine["viewer"]["organization"]["id"]
    team = await api.mutate("createTeam", {"name": "Mine", "kind": "OWNER"}, "team { id }")
    records = await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "L1", "fields": {"first_name": "A"}}]},
        "results { record { id } }",
    )
    record_id = records["results"][0]["record"]["id"]
    types = await api.ok("{ recordTypes { nodes { id } } }")
    for node_id in (
        user_id,
        org_id,
        team["team"]["id"],
        record_id,
        types["recordTypes"]["nodes"][0]["id"],
    ):
        assert (await api.ok("query($id: ID!) { node(id: $id) { id } }", {"id": node_id}))["node"]
        other = await other_api.ok("query($id: ID!) { node(id: $id) { id } }", {"id": node_id})
        assert other["node"] is None, node_id
    theirs = await other_api.ok(
        "{ users { totalCount nodes { email } } records { totalCount } teams { totalCount } }"
    )
    assert theirs["users"]["totalCount"] == 1
    assert theirs["records"]["totalCount"] == 0
    assert theirs["teams"]["totalCount"] == 0
    # Mutations on another organization's objects find nothing.
    payload = await other_api.mutate(
        "updateTeam", {"teamId": team["team"]["id"], "name": "Stolen"}, "team { id }"
    )
    assert payload["errors"][0]["code"] == "NOT_FOUND"
    payload = await other_api.mutate(
        "setUserRoles", {"userId": user_id, "roles": ["SALESPERSON"]}, "user { id }"
    )
    assert payload["errors"][0]["code"] == "NOT_FOUND"


async def test_node_with_garbage_id_is_null(api: Api) -> None:
    for garbage in ("", "nope", "VXNlcjphYmM", "Ym9ndXM6MQ"):
        assert (await api.ok("query($id: ID!) { node(id: $id) { id } }", {"id": garbage}))[
            "node"
        ] is None
