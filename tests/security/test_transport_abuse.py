"""Abuse of the transport (issue 12): malformed bodies, content types, the production GraphiQL
404, rate limits that random tokens, many addresses and websockets cannot get around, and
metrics labels that unauthenticated callers cannot fill."""

from __future__ import annotations

import contextlib
import json
import secrets
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sekvens import ratelimit
from sekvens.app import MAX_JSON_DEPTH, create_app
from sekvens.config import Settings
from sekvens.metrics import MAX_OPERATION_NAMES
from sekvens.ratelimit import RateLimiter
from sekvens.storage import tokens
from sekvens.storage.db import Database
from tests.conftest import Api

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketTestSession
    from starlette.websockets import WebSocketDisconnect

VIEWER = "{ viewer { user { email } } }"
JSON = {"content-type": "application/json"}


@contextlib.asynccontextmanager
async def app_client(db: Database, **settings: Any) -> AsyncIterator[Any]:
    """An app with `settings` (and fresh metrics) on the test database; `at(address)` gives a
    client calling from that address."""
    app = create_app(Settings(database_url=db.settings.database_url, **settings), db)
    clients: list[httpx.AsyncClient] = []

    def at(address: str = "192.0.2.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 1234))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://sekvens.test"))
        return clients[-1]

    try:
        yield at
    finally:
        for c in clients:
            await c.aclose()


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def only_error(response: httpx.Response) -> dict[str, Any]:
    [error] = response.json()["errors"]
    return error


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def nested(depth: int) -> str:
    """A JSON list nested `depth` levels deep."""
    return "[" * depth + "]" * depth


# --- Malformed bodies: 400 with a code, counted ------------------------------------------------


async def test_malformed_json_is_a_400_graphql_error_and_counted(db: Database) -> None:
    deep_body = '{"query": "{ __typename }", "variables": {"a": %s}}'
    refused = [
        # (how it is sent, the message)
        (("POST", b'{"query": "{ __typename }", "x": "\xff\xfe"}'), "not valid UTF-8"),
        (("POST", (deep_body % nested(1000)).encode()), "nested more than 64 levels"),
        (("POST", (deep_body % nested(MAX_JSON_DEPTH - 1)).encode()), "nested more than 64"),
        (("GET", {"variables": nested(1000)}), "nested more than 64 levels"),
        (("GET", {"extensions": '{"a": ' + nested(200) + "}"}), "nested more than 64 levels"),
        (("GET", {"variables": '{"a": '}), "Unable to parse"),
        (("POST", b'{"query": "{ __typename }", "variables": {"a": NaN}}'), "NaN is not JSON"),
        # Unpaired surrogate escapes: no UTF-8 text has them (storing one was an internal error).
        (("POST", b'{"query": "{ __typename }", "variables": {"a": "x\\uD800"}}'), "surrogate"),
        (("GET", {"variables": '{"a": ["\\udfff"]}'}), "unpaired surrogate"),
    ]
    async with app_client(db) as at:
        c = at()
        for (method, sent), message in refused:
            if method == "POST":
                response = await c.post("/graphql", content=sent, headers=JSON)
            else:
                response = await c.get("/graphql", params={"query": "{ __typename }", **sent})
            assert response.status_code == 400, (sent, response.text[:200])
            error = only_error(response)
            assert message in error["message"]
            assert error["extensions"] == {"code": "INVALID_VALUE"}
        # Every list and object counts, the body's own and `variables` too: 62 more fit.
        fits = (deep_body % nested(MAX_JSON_DEPTH - 2)).encode()
        response = await c.post("/graphql", content=fits, headers=JSON)
        assert response.json() == {"data": {"__typename": "Query"}}
        pair = b'{"query": "{ __typename }", "variables": {"a": "\\ud83d\\ude00 \\\\ud800"}}'
        response = await c.post(
            "/graphql", content=pair, headers=JSON
        )  # a pair, and an escaped backslash
        assert response.json() == {"data": {"__typename": "Query"}}

        metrics = (await c.get("/metrics")).text
    refusals = samples(metrics, "sekvens_http_refused_total")
    assert refusals == {(("code", "INVALID_VALUE"), ("status", "400")): len(refused)}
    errors = samples(metrics, "sekvens_graphql_errors_total")
    assert errors[(("code", "INVALID_VALUE"),)] == len(refused)


async def test_deeply_nested_websocket_message_closes_with_4400(api: Api, db: Database) -> None:
    with websocket(db) as ws:
        ws.send_text('{"type": "connection_init", "payload": {"a": ' + nested(1000) + "}}")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4400


# --- Content type and the GraphiQL 404 --------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "Application/Json; Charset=UTF-8", " application/JSON"]
)
async def test_the_json_media_type_is_case_insensitive(
    api: Api, http: httpx.AsyncClient, content_type: str
) -> None:
    response = await http.post(
        "/graphql",
        content=json.dumps({"query": VIEWER}),
        headers={"content-type": content_type, **bearer(api.token)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["viewer"]["user"]["email"].startswith("admin@")


async def test_production_graphiql_is_not_found(db: Database) -> None:
    async with app_client(db, env="production") as at:
        response = await at().get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert only_error(response) == {"message": "Not Found", "extensions": {"code": "NOT_FOUND"}}


# --- Rate limits: wrong tokens, many keys ------------------------------------------------------


async def test_wrong_tokens_draw_from_the_address_bucket(api: Api, db: Database) -> None:
    """Until a token has authenticated, its requests draw from the client address's bucket:
    a fresh random token each time is no way around the limit."""
    async with app_client(db, rate_limit_per_second=0.001, rate_limit_burst=4) as at:
        c = at()
        for _ in range(4):  # (the failed-authentication bucket holds 20 by default)
            random_token = bearer(f"skv_{secrets.token_urlsafe(32)}")
            response = await c.post("/graphql", json={"query": VIEWER}, headers=random_token)
            assert response.status_code == 401
        random_token = bearer(f"skv_{secrets.token_urlsafe(32)}")
        refused = await c.post("/graphql", json={"query": VIEWER}, headers=random_token)
        assert refused.status_code == 429
        assert only_error(refused)["extensions"]["code"] == "RATE_LIMITED"
        # Other addresses are not affected.
        assert (await at("192.0.2.2").post("/graphql", json={"query": VIEWER})).status_code == 200


async def test_failed_authentications_are_limited_per_address(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stricter bucket counts failed authentications per address; while it is empty, the
    address's unverified tokens are refused before they are looked up, while verified
    tokens and requests without a token go on."""
    _, new_token = await api.user(["SALESPERSON"])
    lookups: list[str] = []
    authenticate = tokens.authenticate

    async def counted(session: Any, plaintext: str) -> Any:
        lookups.append(plaintext)
        return await authenticate(session, plaintext)

    monkeypatch.setattr(tokens, "authenticate", counted)
    async with app_client(db, auth_failures_per_second=0.001, auth_failures_burst=3) as at:
        c = at()
        verified = await c.post("/graphql", json={"query": VIEWER}, headers=bearer(api.token))
        assert verified.status_code == 200
        for _ in range(3):
            wrong = bearer(f"skv_{secrets.token_urlsafe(32)}")
            response = await c.post("/graphql", json={"query": VIEWER}, headers=wrong)
            assert response.status_code == 401
        lookups.clear()
        for token in (f"skv_{secrets.token_urlsafe(32)}", new_token):
            refused = await c.post("/graphql", json={"query": VIEWER}, headers=bearer(token))
            assert refused.status_code == 429
            error = only_error(refused)
            assert error["extensions"]["code"] == "RATE_LIMITED"
            assert error["message"].startswith("Too many failed authentications")
            assert int(refused.headers["retry-after"]) > 1
        assert lookups == []  # refused before the token was looked up
        # A token verified before goes on, and so do requests without a token.
        ok = await c.post("/graphql", json={"query": VIEWER}, headers=bearer(api.token))
        assert ok.status_code == 200
        assert (await c.post("/graphql", json={"query": "{ __typename }"})).status_code == 200
        # Another address is not affected.
        other = await at("192.0.2.9").post(
            "/graphql", json={"query": VIEWER}, headers=bearer(new_token)
        )
        assert other.status_code == 200


async def test_many_new_keys_do_not_free_a_limited_client(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bucket table is bounded, but filling it evicts idle buckets, never one that is
    refusing: requests from many addresses do not reset a limited client's bucket."""
    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 10)
    async with app_client(db, rate_limit_per_second=0.001, rate_limit_burst=2) as at:
        limited = at("198.51.100.1")
        for _ in range(2):
            assert (await limited.post("/graphql", json={"query": "{ __typename }"})).is_success
        assert (await limited.post("/graphql", json={"query": "{ __typename }"})).status_code == 429
        for n in range(60):
            flood = at(f"203.0.113.{n}")
            assert (await flood.post("/graphql", json={"query": "{ __typename }"})).is_success
            await flood.aclose()
        assert (await limited.post("/graphql", json={"query": "{ __typename }"})).status_code == 429


async def test_an_ipv6_client_is_one_bucket_per_64(db: Database) -> None:
    async with app_client(db, rate_limit_per_second=0.001, rate_limit_burst=2) as at:
        for host in ("2001:db8:1:2::1", "2001:db8:1:2::ffff"):
            assert (await at(host).post("/graphql", json={"query": "{ __typename }"})).is_success
        again = await at("2001:db8:1:2:aaaa::3").post("/graphql", json={"query": "{ __typename }"})
        assert again.status_code == 429
        other = await at("2001:db8:1:3::1").post("/graphql", json={"query": "{ __typename }"})
        assert other.is_success


def test_the_bucket_table_evicts_idle_buckets_and_keeps_refusing_ones() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1, burst=2, clock=lambda: now[0], max_buckets=100)
    limiter.take("limited"), limiter.take("limited")
    assert limiter.take("limited") > 0
    limiter.take("idle")
    for n in range(1000):
        now[0] += 0.0001
        limiter.take(f"new{n}")
        assert len(limiter) <= 101
    assert "limited" in limiter and limiter.take("limited") > 0
    assert "idle" not in limiter


# --- Websockets ---------------------------------------------------------------------------------


@contextlib.contextmanager
def websocket(db: Database, **settings: Any) -> Iterator[WebSocketTestSession]:
    full = Settings(database_url=db.settings.database_url, **settings)
    with (
        TestClient(create_app(full, Database(full))) as tc,
        tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        yield ws


def connect(tc: TestClient) -> Any:
    return tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])


async def test_websocket_connection_attempts_count(api: Api, db: Database) -> None:
    settings = Settings(
        database_url=db.settings.database_url, rate_limit_per_second=0.001, rate_limit_burst=2
    )
    with TestClient(create_app(settings, Database(settings))) as tc:
        with connect(tc) as ws:  # the attempt draws one
            ws.send_json({"type": "ping"})  # and so does each message
            assert ws.receive_json() == {"type": "pong"}
        with connect(tc) as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4429


async def test_websocket_subscribe_messages_count(api: Api, db: Database) -> None:
    """Over the rate, a subscribe message gets an error (RATE_LIMITED) and does not run; once
    authenticated, the socket draws from its token's bucket."""
    with websocket(db, rate_limit_per_second=0.001, rate_limit_burst=3) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {api.token}"}}
        ws.send_json(init)  # the address's bucket: connect and init; then the token's
        assert ws.receive_json() == {"type": "connection_ack"}
        query = "query { viewer { user { email } } }"
        for n in ("1", "2", "3", "4"):
            ws.send_json({"id": n, "type": "subscribe", "payload": {"query": query}})
        received: dict[str, list[dict[str, Any]]] = {}
        for _ in range(7):  # three times next and complete, and one error
            message = ws.receive_json()
            received.setdefault(message["id"], []).append(message)
        assert [m["type"] for m in received["4"]] == ["error"]
        [error] = received["4"][0]["payload"]
        assert error["extensions"] == {"code": "RATE_LIMITED"}
        assert error["message"].startswith("Too many requests")
        for n in ("1", "2", "3"):
            assert [m["type"] for m in received[n]] == ["next", "complete"]
        ws.send_json({"type": "ping"})  # over the rate: any other message closes the socket
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4429


async def test_websocket_failed_authentications_count(api: Api, db: Database) -> None:
    settings = Settings(
        database_url=db.settings.database_url, auth_failures_per_second=0.001, auth_failures_burst=2
    )
    wrong = {"type": "connection_init", "payload": {"authorization": "Bearer skv_wrong"}}
    with TestClient(create_app(settings, Database(settings))) as tc:
        codes = []
        for _ in range(3):
            with connect(tc) as ws, pytest.raises(WebSocketDisconnect) as closed:
                ws.send_json(wrong)
                ws.receive_json()
            codes.append(closed.value.code)
        assert codes == [4403, 4403, 4429]


# --- Metrics labels -----------------------------------------------------------------------------


async def test_unauthenticated_operations_cannot_take_the_name_slots(
    api: Api, db: Database
) -> None:
    async with app_client(db) as at:
        c = at()
        for n in range(MAX_OPERATION_NAMES + 5):
            await c.post("/graphql", json={"query": f"query Spam{n} {{ __typename }}"})
        response = await c.post(
            "/graphql", json={"query": f"query RealOne {VIEWER}"}, headers=bearer(api.token)
        )
        assert response.status_code == 200
        metrics = (await c.get("/metrics")).text
    requests = samples(metrics, "sekvens_graphql_requests_total")
    assert requests == {
        (("operation", "unauthenticated"), ("type", "query")): MAX_OPERATION_NAMES + 5,
        (("operation", "RealOne"), ("type", "query")): 1,
    }
