"""Abuse limits and request rules: depth, aliases, tokens, cost, batching, timeout, persisted
queries, the JSON content type, CORS, the rate limit, the websocket subscription cap, and
how tokens are compared.

Related checks that live elsewhere: GET runs queries only and the body limit
(tests/test_http.py), introspection, GraphiQL and suggestions off in production
(tests/test_http.py), websocket authentication in connection_init (tests/test_http.py,
tests/engine/test_subscriptions.py), tokens hashed, revocable and expiring
(tests/api/test_auth.py), the template sandbox probes (tests/plugins/test_api.py,
tests/plugins/test_email.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.graphql_schema import build_schema
from sekvens.ratelimit import RateLimiter
from sekvens.schema.cost import LIST_SIZE, operation_cost
from sekvens.storage import tokens
from sekvens.storage.db import Database
from tests.conftest import Api

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SCHEMA = build_schema()._schema
VIEWER = "{ viewer { user { email } } }"


@contextlib.asynccontextmanager
async def client(db: Database, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with `settings` on the test database."""
    app = create_app(Settings(database_url=db.settings.database_url, **settings), db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as c:
        yield c


def bearer(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token}"}


async def post(c: httpx.AsyncClient, api: Api, body: Any) -> httpx.Response:
    return await c.post("/graphql", json=body, headers=bearer(api))


def codes(response: httpx.Response) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in response.json()["errors"]]


# --- Cost ---------------------------------------------------------------------------------


def cost(document: str, variables: dict[str, Any] | None = None, name: str | None = None) -> int:
    return operation_cost(SCHEMA, parse(document), name, variables, page_size=100)


def test_cost_model() -> None:
    # Leaves are free, objects cost 1.
    assert cost("{ viewer { user { email name } } }") == 2
    # `first` multiplies what is under the connection; edges/nodes are that page.
    team_list = 1 + LIST_SIZE * 1  # teams { team { id } }: a plain list of 10 assumed
    assert cost("{ users(first: 10) { nodes { id teams { team { id } } } } }") == 1 + 10 * (
        1 + team_list
    )
    # Without first/last: the page size cap; above the cap: the cap (the resolver refuses).
    assert cost("{ users { nodes { id } } }") == 1 + 100 * 1
    assert cost("{ users(first: 5000) { nodes { id } } }") == 1 + 100 * 1
    assert cost("{ users(last: 3) { edges { node { id } } } }") == 1 + 3 * 2
    # Variables, and their defaults.
    doc = "query($n: Int = 4) { teams(first: $n) { nodes { id } } }"
    assert cost(doc) == 1 + 4
    assert cost(doc, {"n": 7}) == 1 + 7
    # Nested connections multiply.
    nested = "{ records(first: 10) { nodes { connections(first: 10) { nodes { id } } } } }"
    assert cost(nested) == 1 + 10 * (1 + (1 + 10 * 1))
    # Fragments and inline fragments count as written; only the chosen operation counts.
    assert cost("fragment U on User { teams { team { id } } } { viewer { user { ...U } } }") == (
        1 + 1 + team_list
    )
    assert cost('{ node(id: "x") { ... on Sequence { ownerUser { id } } } }') == 2
    two = "query A { viewer { user { id } } } query B { users(first: 2) { nodes { id } } }"
    assert cost(two, name="A") == 2 and cost(two, name="B") == 3
    # Introspection is free (production turns it off).
    assert cost("{ __schema { types { fields { name } } } }") == 0


def test_pricing_is_linear_with_fragments_spread_many_times() -> None:
    """F0 spreads F1 ten times, F1 spreads F2 ten times...: 10**8 paths, priced at once."""
    levels = 8
    fragments = [
        f"fragment F{i} on User {{ "
        + " ".join(
            f"a{j}: teams {{ team {{ members {{ user {{ ...F{i + 1} }} }} }} }}" for j in range(10)
        )
        + " }"
        for i in range(levels)
    ]
    fragments.append(f"fragment F{levels} on User {{ id }}")
    document = "{ viewer { user { ...F0 } } } " + " ".join(fragments)
    assert cost(document) > 10**8


# --- Depth, aliases, tokens, cost over HTTP -----------------------------------------------------


async def test_depth_limit(api: Api, db: Database) -> None:
    async with client(db, max_depth=3) as c:
        assert (await post(c, api, {"query": VIEWER})).json()["data"]
        deep = "{ viewer { user { teams { team { id } } } } }"
        body = (await post(c, api, {"query": deep})).json()
        assert body["data"] is None
        assert "exceeds maximum operation depth of 3" in body["errors"][0]["message"]


async def test_alias_limit(api: Api, db: Database) -> None:
    async with client(db, max_aliases=2) as c:
        two = "{ a: viewer { user { id } } b: viewer { user { id } } }"
        assert (await post(c, api, {"query": two})).json()["data"]
        three = "{ a: viewer { user { id } } b: viewer { user { id } } c: organization { id } }"
        body = (await post(c, api, {"query": three})).json()
        assert body["errors"][0]["message"] == "3 aliases found. Allowed: 2"


async def test_token_limit(api: Api, db: Database) -> None:
    async with client(db, max_tokens=12) as c:
        assert (await post(c, api, {"query": VIEWER})).json()["data"]  # 9 tokens
        long = "{ viewer { user { email name id timeZone isActive } } }"
        body = (await post(c, api, {"query": long})).json()
        assert body["data"] is None
        assert "more than 12 tokens" in body["errors"][0]["message"]


async def test_cost_limit(api: Api, db: Database) -> None:
    async with client(db, max_cost=60) as c:
        small = "{ users(first: 50) { nodes { id } } }"
        assert (await post(c, api, {"query": small})).json()["data"]["users"]
        big = "query($n: Int) { users(first: $n) { nodes { id teams { team { id } } } } }"
        response = await post(c, api, {"query": big, "variables": {"n": 10}})
        assert response.status_code == 200
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 121, "maxCost": 60}
        assert response.json()["data"] is None
        # The same document with a smaller page passes.
        ok = await post(c, api, {"query": big, "variables": {"n": 2}})
        assert "errors" not in ok.json()
        # A mutation is priced the same way (its payload's selection).
        mutation = (
            'mutation { createTeam(input: {name: "T", kind: OWNER}) { team { members '
            "{ user { teams { team { members { user { id } } } } } } } } }"
        )
        assert codes(await post(c, api, {"query": mutation})) == ["QUERY_TOO_COSTLY"]
        teams = await post(c, api, {"query": "{ teams { totalCount } }"})
        assert teams.json()["data"]["teams"]["totalCount"] == 0  # it did not run


async def test_defaults_let_the_spa_queries_through(api: Api) -> None:
    """A home-grid page, an up-next page and a sequence design with the default limits."""
    grid = (
        "{ sequences(first: 50) { totalCount nodes { id name status recordType { name }"
        " ownerUser { name } tags { name path } stepCount activeConnections modifiedAt } } }"
    )
    up_next = (
        "{ upNext(first: 50) { nodes { id subject dueAt record { name ownerUser { name } }"
        " sequence { name } step { name type } connection { status } } } }"
    )
    await api.ok(grid)
    await api.ok(up_next)
    for document in (grid, up_next):
        assert cost(document) <= Settings().max_cost


# --- Batching ------------------------------------------------------------------------------------


async def test_batching_is_off_by_default(api: Api, db: Database) -> None:
    async with client(db) as c:
        response = await post(c, api, [{"query": VIEWER}, {"query": VIEWER}])
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"] == "Batching is not enabled"


async def test_batching_up_to_max_operations(api: Api, db: Database) -> None:
    async with client(db, max_operations=2) as c:
        response = await post(c, api, [{"query": VIEWER}, {"query": "{ organization { id } }"}])
        assert response.status_code == 200
        assert [bool(r["data"]) for r in response.json()] == [True, True]
        three = await post(c, api, [{"query": VIEWER}] * 3)
        assert three.status_code == 400
        assert "Too many operations" in three.json()["errors"][0]["message"]


# --- Timeout -----------------------------------------------------------------------------------


async def test_a_slow_query_times_out_and_the_next_one_runs(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekvens.resolvers import query

    original = query.organizations.existing

    async def slow(session: Any, pk: int) -> Any:
        await asyncio.sleep(5)
        return await original(session, pk)

    async with client(db, operation_timeout_seconds=0.2) as c:
        monkeypatch.setattr(query.organizations, "existing", slow)
        response = await post(c, api, {"query": "{ organization { name } }"})
        assert response.status_code == 200
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "TIMEOUT"}
        assert error["message"] == "The operation took longer than 0.2 s and was cancelled."
        monkeypatch.undo()
        again = await post(c, api, {"query": "{ organization { name } }"})
        assert again.json() == {"data": {"organization": {"name": api.org}}}


async def test_a_mutation_cut_by_the_timeout_leaves_nothing(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekvens.storage import teams

    original = teams.create_team

    async def slow(session: Any, *args: Any) -> Any:
        team = await original(session, *args)  # inserted (flushed) in the transaction...
        await asyncio.sleep(5)  # ...and then the operation runs out of time
        return team

    async with client(db, operation_timeout_seconds=0.2) as c:
        monkeypatch.setattr(teams, "create_team", slow)
        create = 'mutation { createTeam(input: {name: "Slow", kind: OWNER}) { errors { code } } }'
        assert codes(await post(c, api, {"query": create})) == ["TIMEOUT"]
        monkeypatch.undo()
        after = await post(c, api, {"query": "{ teams { totalCount } }"})
        assert after.json() == {"data": {"teams": {"totalCount": 0}}}


# --- Persisted queries -------------------------------------------------------------------------


def sha(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


@pytest.fixture
def persisted(tmp_path: Path) -> Path:
    path = tmp_path / "persisted.json"
    path.write_text(json.dumps({sha(VIEWER): VIEWER}))
    return path


async def test_persisted_queries_only(api: Api, db: Database, persisted: Path) -> None:
    by_hash = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(VIEWER)}}}
    async with client(db, persisted_queries=str(persisted)) as c:
        for body in ({"query": VIEWER}, by_hash, {"query": VIEWER, **by_hash}):
            response = await post(c, api, body)
            assert response.json()["data"]["viewer"]["user"]["email"], body
        get = await c.get(
            "/graphql",
            params={"extensions": json.dumps(by_hash["extensions"])},
            headers={**bearer(api), "accept": "application/json"},
        )
        assert get.json()["data"]["viewer"]["user"]["email"]
        other = "{ viewer { user { id } } }"
        refused = [
            {"query": other},
            {"query": "mutation { createTeam(input: {name: 1}) { team { id } } }"},
            {"query": "{ nonsense }"},  # refused before validation: no schema hints
            {"extensions": {"persistedQuery": {"sha256Hash": sha(other)}}},
            {"query": other, **by_hash},  # hash and document disagree
        ]
        for body in refused:
            response = await post(c, api, body)
            assert response.status_code == 200
            assert response.json()["data"] is None
            [error] = response.json()["errors"]
            assert error["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}, body
            assert "persisted queries" in error["message"]


def test_a_wrong_persisted_queries_file_stops_startup(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"0" * 64: VIEWER}))
    with pytest.raises(ValueError, match="is not the SHA-256 of its document"):
        create_app(Settings(database_url=db.settings.database_url, persisted_queries=str(path)))


# --- Content type, CORS ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/graphql",
        "application/jsonp",
        None,
    ],
)
async def test_post_needs_a_json_content_type(
    api: Api, http: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await http.post(
        "/graphql", content=json.dumps({"query": VIEWER}), headers={**headers, **bearer(api)}
    )
    assert response.status_code == 415
    assert response.json() == {
        "errors": [
            {
                "message": "Send the request as JSON with 'Content-Type: application/json'.",
                "extensions": {"code": "UNSUPPORTED_MEDIA_TYPE"},
            }
        ]
    }
    ok = await http.post(
        "/graphql",
        content=json.dumps({"query": VIEWER}),
        headers={"content-type": "application/json; charset=utf-8", **bearer(api)},
    )
    assert ok.status_code == 200


PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization,content-type",
}


async def test_cors_is_off_by_default(http: httpx.AsyncClient) -> None:
    origin = {"origin": "https://spa.example"}
    preflight = await http.options("/graphql", headers={**origin, **PREFLIGHT})
    assert "access-control-allow-origin" not in preflight.headers
    response = await http.get("/healthz", headers=origin)
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_the_configured_origins(api: Api, db: Database) -> None:
    async with client(db, cors_origins=("https://spa.example",)) as c:
        allowed = {"origin": "https://spa.example"}
        preflight = await c.options("/graphql", headers={**allowed, **PREFLIGHT})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://spa.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in preflight.headers
        response = await c.post(
            "/graphql", json={"query": VIEWER}, headers={**allowed, **bearer(api)}
        )
        assert response.headers["access-control-allow-origin"] == "https://spa.example"
        evil = {"origin": "https://evil.example"}
        refused = await c.options("/graphql", headers={**evil, **PREFLIGHT})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


def test_cors_origins_from_the_environment() -> None:
    settings = Settings.from_env({"SEKVENS_CORS_ORIGINS": "https://a.example/, https://b.example"})
    assert settings.cors_origins == ("https://a.example", "https://b.example")


# --- Rate limit ----------------------------------------------------------------------------------


def test_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("a") == pytest.approx(0.5)  # empty: one token in half a second
    assert limiter.take("b") == 0  # buckets are per key
    now[0] = 0.5
    assert limiter.take("a") == 0
    now[0] = 100.0  # refills up to the burst, not beyond
    assert [limiter.take("a") for _ in range(4)][-1] > 0


async def test_rate_limit_answers_429_with_retry_after(api: Api, db: Database) -> None:
    _, second_token = await api.user(["SALESPERSON"])
    async with client(db, rate_limit_per_second=0.5, rate_limit_burst=2) as c:
        # A token's first request draws from the client address's bucket; once verified,
        # the token has a bucket of its own.
        assert (await post(c, api, {"query": VIEWER})).status_code == 200
        for _ in range(2):
            assert (await post(c, api, {"query": VIEWER})).status_code == 200
        refused = await post(c, api, {"query": VIEWER})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"
        assert codes(refused) == ["RATE_LIMITED"]
        other = await c.post(
            "/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {second_token}"}
        )
        assert other.status_code == 200  # the address's second request
        # The address's bucket is empty now: requests without a token are refused.
        assert (await c.post("/graphql", json={"query": VIEWER})).status_code == 429


async def test_rate_limit_off(api: Api, db: Database) -> None:
    async with client(db, rate_limit_per_second=0, rate_limit_burst=1) as c:
        for _ in range(5):
            assert (await post(c, api, {"query": VIEWER})).status_code == 200


# --- Websocket subscription cap ------------------------------------------------------------------


async def test_subscriptions_per_connection_are_capped(api: Api, db: Database) -> None:
    settings = Settings(database_url=db.settings.database_url, max_subscriptions_per_connection=2)
    with (
        TestClient(create_app(settings, Database(settings))) as tc,
        tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {api.token}"}}
        )
        assert ws.receive_json() == {"type": "connection_ack"}
        query = "subscription { upNextChanged { id } }"
        for n in ("1", "2", "3"):
            ws.send_json({"id": n, "type": "subscribe", "payload": {"query": query}})
        message = ws.receive_json()
        assert message["id"] == "3" and message["type"] == "error"
        assert message["payload"][0]["message"] == "Subscription limit reached"
        ws.send_json({"id": "1", "type": "complete"})
        ws.send_json({"id": "4", "type": "subscribe", "payload": {"query": query}})
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # "4" was taken: no error came first


# --- Tokens --------------------------------------------------------------------------------------


async def test_tokens_are_compared_in_constant_time(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup is by the token's SHA-256 (what a timing attack could learn is a hash of the
    attacker's own guess), and the stored hash is then compared with hmac.compare_digest."""
    compared: list[tuple[str, str]] = []
    compare = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    assert api.token
    async with db.session() as session:
        found = await tokens.authenticate(session, api.token)
    assert found is not None
    assert compared == [(tokens.hash_token(api.token),) * 2]
