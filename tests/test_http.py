"""The HTTP face of the app: bad requests, body limit, GET, health, readiness, metrics,
production hardening and the graphql-transport-ws websocket."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.websockets import WebSocketDisconnect

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage import migrate
from sekvens.storage.db import Database
from tests.conftest import Api
from tests.test_migrations import downgrade

with warnings.catch_warnings():  # Starlette would rather TestClient ran on httpx2
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

VIEWER = "{ viewer { user { email } } }"


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The single GraphQL-style error of a refused request."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors"}
    [error] = body["errors"]
    return error


@contextlib.asynccontextmanager
async def client_of(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as client:
        yield client


def bearer(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token}"}


# --- Bad requests ------------------------------------------------------------------------------


async def test_malformed_json_is_a_400_graphql_error(http: httpx.AsyncClient) -> None:
    for body in (b"{not json", b"", b"[1, 2"):
        response = await http.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, body
        error = error_of(response)
        assert error["message"] == "Unable to parse request body as JSON"
        assert error["extensions"]["code"] == "INVALID_VALUE"


async def test_missing_query_is_a_400_graphql_error(http: httpx.AsyncClient) -> None:
    for body in ({}, {"variables": {}}, {"query": None}):
        response = await http.post("/graphql", json=body)
        assert response.status_code == 400, body
        assert error_of(response)["message"] == "No GraphQL query found in the request"


async def test_a_body_over_the_limit_is_refused_with_413(api: Api, db: Database) -> None:
    app = create_app(Settings(database_url=db.settings.database_url, max_body_bytes=200), db)
    async with client_of(app) as client:
        small = await client.post("/graphql", json={"query": VIEWER}, headers=bearer(api))
        assert small.status_code == 200 and small.json()["data"]["viewer"]["user"]["email"]

        padded = {"query": VIEWER + " " * 200}
        declared = await client.post("/graphql", json=padded, headers=bearer(api))
        assert declared.status_code == 413
        error = error_of(declared)
        assert error["extensions"]["code"] == "TOO_LONG"
        assert error["message"] == "Request body is over 200 bytes."

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"query": "{ viewer { user { email } } }'
            for _ in range(20):
                yield b" " * 20
            yield b'"}'

        streamed = await client.post(
            "/graphql",
            content=chunks(),
            headers={**bearer(api), "content-type": "application/json"},
        )
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        assert error_of(streamed)["extensions"]["code"] == "TOO_LONG"


# --- GET ---------------------------------------------------------------------------------------


async def test_get_runs_a_query(api: Api) -> None:
    response = await api.http.get(
        "/graphql",
        params={
            "query": "query Me($n: Int) { viewer { user { email } } users(first: $n) { totalCount } }",
            "variables": '{"n": 1}',
        },
        headers=bearer(api),
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["viewer"]["user"]["email"].startswith("admin@")
    assert data["users"]["totalCount"] == 1


async def test_get_refuses_a_mutation(api: Api) -> None:
    response = await api.http.get(
        "/graphql",
        params={
            "query": 'mutation { createTeam(input: {name: "Via GET", kind: OWNER}) { errors { code } } }'
        },
        headers=bearer(api),
    )
    assert response.status_code == 400
    assert error_of(response)["message"] == "mutations are not allowed when using GET"
    assert (await api.ok("{ teams { totalCount } }"))["teams"]["totalCount"] == 0


# --- Health, readiness, metrics ----------------------------------------------------------------


async def test_healthz(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


async def test_readyz_when_migrated(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"ready": True})


@pytest.mark.parametrize("revision", ["-1", "base"])
async def test_readyz_refuses_a_database_at_an_older_migration(
    tmp_path: Path, revision: str
) -> None:
    db = Database(Settings(database_url=f"sqlite:///{tmp_path / 'old.db'}"))
    try:
        await migrate.upgrade(db.engine)
        await downgrade(db.engine, revision)
        assert not await migrate.is_up_to_date(db.engine)
        async with client_of(create_app(db.settings, db)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"ready": False, "database": "not migrated"}
    finally:
        await db.dispose()


async def test_readyz_refuses_an_unreachable_database(tmp_path: Path) -> None:
    db = Database(Settings(database_url=f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}"))
    try:
        async with client_of(create_app(db.settings, db)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"ready": False, "database": "unreachable"}
    finally:
        await db.dispose()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Values of the samples called `name`, by their sorted labels."""
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_metrics_count_operations_by_name_and_errors_by_code(api: Api, db: Database) -> None:
    async with client_of(create_app(db.settings, db)) as client:  # fresh counters
        for _ in range(2):
            response = await client.post(
                "/graphql", json={"query": f"query Me {VIEWER}"}, headers=bearer(api)
            )
            assert "errors" not in response.json()
        await client.post("/graphql", json={"query": "mutation Nobody { __typename }"})
        await client.post("/graphql", json={"query": f"query Anon {VIEWER}"})  # no token
        await client.post("/graphql", json={"query": "{ __typename }"}, headers=bearer(api))
        await client.post("/graphql", json={"query": "query Typo { viewr }"}, headers=bearer(api))
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    requests = samples(response.text, "sekvens_graphql_requests_total")
    assert requests[(("operation", "Me"), ("type", "query"))] == 2
    # Without a token, names are not labels (docs/security.md, "Requests").
    assert requests[(("operation", "unauthenticated"), ("type", "mutation"))] == 1
    assert requests[(("operation", "unauthenticated"), ("type", "query"))] == 1
    assert requests[(("operation", "anonymous"), ("type", "query"))] == 1
    assert requests[(("operation", "Typo"), ("type", "query"))] == 1
    latency = samples(response.text, "sekvens_graphql_latency_seconds_count")
    assert latency[(("operation", "Me"),)] == 2
    errors = samples(response.text, "sekvens_graphql_errors_total")
    assert errors == {
        (("code", "UNAUTHENTICATED"),): 1,
        (("code", "GRAPHQL_VALIDATION_FAILED"),): 1,
    }


# --- Production hardening ----------------------------------------------------------------------


@pytest.fixture
async def production(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=db.settings.database_url, env="production")
    async with client_of(create_app(settings, db)) as client:
        yield client


async def test_production_refuses_introspection(api: Api, production: httpx.AsyncClient) -> None:
    for query in ("{ __schema { types { name } } }", '{ __type(name: "User") { name } }'):
        response = await production.post("/graphql", json={"query": query}, headers=bearer(api))
        body = response.json()
        assert body["data"] is None
        assert "introspection has been disabled" in body["errors"][0]["message"]
    # ...while development allows it.
    data = await api.ok('{ __type(name: "User") { name } }')
    assert data == {"__type": {"name": "User"}}
    # __typename is not introspection of the schema.
    response = await production.post(
        "/graphql", json={"query": "{ viewer { __typename } }"}, headers=bearer(api)
    )
    assert response.json() == {"data": {"viewer": {"__typename": "Viewer"}}}


async def test_production_suggests_no_field_names(api: Api, production: httpx.AsyncClient) -> None:
    typo = "{ viewr { user { email } } }"
    development = (await api.gql(typo))["errors"][0]["message"]
    assert "Did you mean 'viewer'?" in development
    response = await production.post("/graphql", json={"query": typo}, headers=bearer(api))
    [error] = response.json()["errors"]
    assert error["message"] == "Cannot query field 'viewr' on type 'Query'."


async def test_production_suggests_no_other_schema_names(
    api: Api, production: httpx.AsyncClient
) -> None:
    for typo in (
        "{ users(rol: SALESPERSON) { totalCount } }",
        "{ users(role: SALESPERSN) { totalCount } }",
        "fragment F on Usr { id } { viewer { user { ...F } } }",
    ):
        assert "Did you mean" in (await api.gql(typo))["errors"][0]["message"]
        response = await production.post("/graphql", json={"query": typo}, headers=bearer(api))
        messages = [e["message"] for e in response.json()["errors"]]
        assert messages and not [m for m in messages if "Did you mean" in m], messages


async def test_graphiql_only_in_development(
    http: httpx.AsyncClient, production: httpx.AsyncClient
) -> None:
    html = {"accept": "text/html"}
    development = await http.get("/graphql", headers=html)
    assert development.status_code == 200
    assert development.headers["content-type"].startswith("text/html")
    assert "GraphiQL" in development.text
    refused = await production.get("/graphql", headers=html)
    assert refused.status_code == 404
    assert "GraphiQL" not in refused.text


# --- Websocket ---------------------------------------------------------------------------------


@pytest.fixture
def ws_client(db: Database) -> Any:
    """A TestClient on its own app and engine: the client runs the app on its own event loop."""
    with TestClient(create_app(db.settings, Database(db.settings))) as client:
        yield client


def subscribe_once(ws: Any, query: str) -> dict[str, Any]:
    ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
    message = ws.receive_json()
    assert message["type"] == "next" and message["id"] == "1", message
    assert ws.receive_json() == {"id": "1", "type": "complete"}
    return message["payload"]


async def test_websocket_speaks_only_graphql_transport_ws(ws_client: Any) -> None:
    for offered in (["graphql-ws"], [], ["graphql-ws", "graphql-transport-ws"]):
        with ws_client.websocket_connect("/graphql", subprotocols=offered) as ws:
            if "graphql-transport-ws" in offered:
                assert ws.accepted_subprotocol == "graphql-transport-ws"
                continue
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert (closed.value.code, closed.value.reason) == (4406, "Subprotocol not acceptable")


async def test_websocket_authenticates_in_connection_init(api: Api, ws_client: Any) -> None:
    with ws_client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {api.token}"}}
        )
        assert ws.receive_json() == {"type": "connection_ack"}
        payload = subscribe_once(ws, "{ viewer { organization { name } } }")
        assert payload == {"data": {"viewer": {"organization": {"name": api.org}}}}


async def test_websocket_without_token_is_closed(ws_client: Any) -> None:
    """A socket without a viewer could run nothing: it is closed before any document is
    parsed (tests/security/test_validation_abuse.py)."""
    for init in ({"type": "connection_init"}, {"type": "connection_init", "payload": {}}):
        with ws_client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json(init)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert (closed.value.code, closed.value.reason) == (4403, "Forbidden")


async def test_websocket_with_a_wrong_token_is_closed(ws_client: Any) -> None:
    for authorization in ("Bearer skv_wrong", "Basic abc"):
        with ws_client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"authorization": authorization}})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert (closed.value.code, closed.value.reason) == (4403, "Forbidden")
