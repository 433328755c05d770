"""Documents that would make parsing or validation expensive are refused before validation
(issue 12, items 1 and 8), and production suggests no schema names (item 3).

No timing here: each case asserts the refusal (its code), which today's documents of that
shape did not get (they took seconds, ran, or failed without a code).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage.db import Database
from tests.conftest import Api

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

ORGANIZATION = " organization { name }"


@contextlib.asynccontextmanager
async def client(db: Database, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=db.settings.database_url, **settings), db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as c:
        yield c


async def post(c: httpx.AsyncClient, api: Api | None, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {api.token}"} if api else {}
    response = await c.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def chain(length: int, spreads: int, last: str = "organization { name }") -> str:
    """`{ ...F0 }`, each fragment spreading the next `spreads` times."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ {f' ...F{i + 1}' * spreads} }}" for i in range(length)
    )
    return f"{{ ...F0 }} {fragments} fragment F{length} on Query {{ {last} }}"


# --- Selections, counted before validation ---------------------------------------------------


async def test_the_issues_documents_are_refused_before_validation(api: Api, db: Database) -> None:
    """1,200 copies of one field (4,802 tokens, under the token limit), in one operation or
    each in an operation of its own: validation took seconds and ran out of graphql-core's
    budget ("Validation aborted."). Now: TOO_MANY_SELECTIONS, from a count of the document."""
    same_field = "{" + ORGANIZATION * 1200 + " }"
    fresh_names = " ".join(f"query Q{i} {{{ORGANIZATION} }}" for i in range(600))
    async with client(db) as c:
        refused = await post(c, api, {"query": same_field})
        assert refused["data"] is None
        assert codes(refused) == ["TOO_MANY_SELECTIONS"]
        assert "more than 1000 selections" in refused["errors"][0]["message"]
        # Operations cost validation most (each is checked on its own): at most 200.
        refused = await post(c, api, {"query": fresh_names, "operationName": "Q7"})
        assert refused["data"] is None
        assert codes(refused) == ["TOO_MANY"]
        assert "more than 200 operations and fragments" in refused["errors"][0]["message"]
        # Without a token the document is not even parsed to its end (500 tokens).
        anonymous = await post(c, None, {"query": same_field})
        assert codes(anonymous) == ["GRAPHQL_PARSE_FAILED"]
        assert "more than 500 tokens" in anonymous["errors"][0]["message"]


async def test_operations_and_fragments_are_counted(api: Api, db: Database) -> None:
    four = (
        "query A { ...F } query B { ...G } fragment F on Query { __typename }"
        " fragment G on Query { __typename }"
    )
    async with client(db, max_definitions=3) as c:
        body = await post(c, api, {"query": four, "operationName": "A"})
        assert codes(body) == ["TOO_MANY"]
    async with client(db, max_definitions=4) as c:
        body = await post(c, api, {"query": four, "operationName": "A"})
        assert body == {"data": {"__typename": "Query"}}


async def test_fragments_count_where_they_are_spread(api: Api, db: Database) -> None:
    twice = "{ viewer { user { ...U ...U } } } fragment U on User { id email }"  # 6 written
    async with client(db, max_selections=7) as c:
        assert codes(await post(c, api, {"query": twice})) == ["TOO_MANY_SELECTIONS"]
    async with client(db, max_selections=8) as c:
        assert (await post(c, api, {"query": twice}))["data"]["viewer"]["user"]["id"]
    # A chain of fragments each spreading the next twice is 2^16 selections in 200 tokens:
    # validation's limiters followed every path (about a second; 2^25 took minutes) before
    # the cost limit refused it. It is measured in one pass now.
    async with client(db) as c:
        exponential = await post(c, api, {"query": chain(16, spreads=2)})
        assert codes(exponential) == ["TOO_MANY_SELECTIONS"]


async def test_a_long_chain_of_fragments_is_a_coded_refusal(api: Api, db: Database) -> None:
    """600 fragments each spreading the next overflowed the recursion of Strawberry's depth
    limiter: a "maximum recursion depth exceeded" error without a code."""
    long_chain = chain(600, spreads=1, last="__typename")
    async with client(db) as c:
        assert codes(await post(c, api, {"query": long_chain})) == ["TOO_MANY"]  # 601 fragments
    async with client(db, max_definitions=1000) as c:  # graphql-core's nesting guard
        body = await post(c, api, {"query": long_chain})
        assert body["data"] is None
        assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
        assert "recursion" not in body["errors"][0]["message"]
        # A chain of reasonable length still runs.
        short = await post(c, api, {"query": chain(20, spreads=1, last="viewer { user { id } }")})
        assert short["data"]["viewer"]["user"]["id"]


async def test_depth_and_aliases_follow_fragments(api: Api, db: Database) -> None:
    deep = "{ ...V } fragment V on Query { viewer { user { teams { team { id } } } } }"
    aliased = "{ ...A ...A } fragment A on Query { a: viewer { id } b: viewer { id } }"
    async with client(db, max_depth=3, max_aliases=3) as c:
        body = await post(c, api, {"query": deep})
        assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
        assert body["errors"][0]["message"] == "'anonymous' exceeds maximum operation depth of 3"
        body = await post(c, api, {"query": aliased})
        assert body["errors"][0]["message"] == "4 aliases found. Allowed: 3"
        # Introspection's insides are not counted (GraphiQL's query nests deeply).
        introspection = "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"
        assert (await post(c, api, {"query": introspection}))["data"]["__schema"]


async def test_repeated_fields_have_a_comparison_budget(api: Api, db: Database) -> None:
    """400 copies of one field are 800 selections, under the limit, but validation compares
    each with each (graphql-core allowed 500,000 comparisons, over a second): the budget
    (SEKVENS_MAX_FIELD_COMPARISONS) stops it."""
    repeated = "{" + ORGANIZATION * 400 + " }"
    async with client(db) as c:
        body = await post(c, api, {"query": repeated})
        assert body["data"] is None
        assert codes(body) == ["TOO_MANY_SELECTIONS"]
        assert "SEKVENS_MAX_FIELD_COMPARISONS" in body["errors"][0]["message"]
        # A colocated-fragments document (20 fragments on the same parent) fits the default.
        fragments = " ".join(
            f"fragment F{i} on Query {{ viewer {{ user {{ id name }} }} t{i}: __typename }}"
            for i in range(20)
        )
        spreads = " ".join(f"...F{i}" for i in range(20))
        body = await post(c, api, {"query": f"{{ {spreads} }} {fragments}"})
        assert "errors" not in body, body
    async with client(db, max_field_comparisons=10) as c:
        body = await post(c, api, {"query": "{" + ORGANIZATION * 5 + " }"})
        assert codes(body) == ["TOO_MANY_SELECTIONS"]


async def test_anonymous_documents_are_smaller(api: Api, db: Database) -> None:
    """Without a token nothing runs but `__typename` (and introspection in development), so
    such a caller gets the parser for `max_tokens_anonymous` tokens only."""
    document = "query Big { viewer { user { id " + "email " * 40 + "} } }"  # 49 tokens
    async with client(db, max_tokens_anonymous=30) as c:
        assert (await post(c, api, {"query": document}))["data"]["viewer"]["user"]["email"]
        anonymous = await post(c, None, {"query": document})
        assert codes(anonymous) == ["GRAPHQL_PARSE_FAILED"]
        assert "more than 30 tokens" in anonymous["errors"][0]["message"]
        assert (await post(c, None, {"query": "{ __typename }"}))["data"] == {"__typename": "Query"}


# --- Several operations need an operationName ---------------------------------------------


async def test_several_operations_need_an_operation_name(api: Api) -> None:
    """The first operation ran (GraphQL says: "Must provide operation name if query contains
    multiple operations"), over POST and GET."""
    document = "query First { __typename } query Second { viewer { user { id } } }"
    headers = {"Authorization": f"Bearer {api.token}"}
    for response in (
        await api.post(document),
        await api.http.get("/graphql", params={"query": document}, headers=headers),
    ):
        body = response.json()
        assert body["data"] is None, body
        assert codes(body) == ["OPERATION_NAME_REQUIRED"]
        assert "operationName" in body["errors"][0]["message"]
    for response in (
        await api.http.post(
            "/graphql", json={"query": document, "operationName": "Second"}, headers=headers
        ),
        await api.http.get(
            "/graphql", params={"query": document, "operationName": "Second"}, headers=headers
        ),
    ):
        assert response.json()["data"]["viewer"]["user"]["id"]
    assert (await api.ok("query Only { __typename }")) == {"__typename": "Query"}


# --- Websocket -------------------------------------------------------------------------------


@pytest.fixture
def production_ws(db: Database) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db.settings.database_url, env="production", secret_key="k" * 32
    )
    with TestClient(create_app(settings, Database(settings))) as tc:
        yield tc


async def test_a_websocket_without_a_token_runs_nothing(production_ws: TestClient) -> None:
    """It was acknowledged and every document was parsed and validated (then refused by the
    resolvers); now connection_init without a token closes it, as a wrong token does."""
    with production_ws.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


def results(ws: Any, payloads: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The errors each subscribe message gets (as `error` or in `next`)."""
    found = []
    for n, payload in enumerate(payloads):
        ws.send_json({"id": str(n), "type": "subscribe", "payload": payload})
        message = ws.receive_json()
        if message["type"] == "next":
            assert ws.receive_json() == {"id": str(n), "type": "complete"}
            found.append(message["payload"].get("errors") or [])
        else:
            assert message["type"] == "error", message
            found.append(message["payload"])
    return found


async def test_websocket_documents_have_the_same_limits(
    api: Api, production_ws: TestClient
) -> None:
    with production_ws.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {api.token}"}}
        )
        assert ws.receive_json() == {"type": "connection_ack"}
        too_many, unnamed = results(
            ws,
            [
                {"query": "{" + ORGANIZATION * 1200 + " }"},
                {"query": "query A { __typename } query B { __typename }"},
            ],
        )
        assert [e["extensions"]["code"] for e in too_many] == ["TOO_MANY_SELECTIONS"]
        assert [e["extensions"]["code"] for e in unnamed] == ["OPERATION_NAME_REQUIRED"]


# --- No suggestions in production -------------------------------------------------------------

#: Each a document (and variables) with a near miss of a schema name; development suggests it.
NEAR_MISSES: list[tuple[str, dict[str, Any] | None]] = [
    ("{ viewr { id } }", None),  # field
    ("{ users(rol: SALESPERSON) { totalCount } }", None),  # argument
    ("query($r: Rle) { users(role: $r) { totalCount } }", None),  # type
    ("{ users(role: SALESPERSN) { totalCount } }", None),  # enum value, inline
    ("query($r: Role) { users(role: $r) { totalCount } }", {"r": "SALESPERSN"}),  # in a variable
    ('{ records(filter: {serch: "x"}) { totalCount } }', None),  # input field, inline
    (
        "query($f: RecordFilterInput) { records(filter: $f) { totalCount } }",
        {"f": {"serch": "x"}},
    ),  # input field in a variable
    (
        'mutation { createTag(input: {nme: "x"}) { errors { code } } }',
        None,
    ),  # input field of a mutation's input
    (
        "mutation($i: CreateTagInput!) { createTag(input: $i) { errors { code } } }",
        {"i": {"nme": "x"}},
    ),
]

SUBSCRIPTION_MISSES: list[tuple[str, dict[str, Any] | None]] = [
    ('subscription { connectionChanged(sequenceI: "x") { id } }', None),  # argument
    ("subscription { upNextChanged { idd } }", None),  # field
]


def assert_no_suggestions(errors: list[dict[str, Any]]) -> None:
    assert errors
    messages = [e["message"] for e in errors]
    assert not [m for m in messages if "Did you mean" in m], messages


async def test_development_suggests(api: Api) -> None:
    """The near misses below are near enough: development suggests each of them."""
    for document, variables in [*NEAR_MISSES, *SUBSCRIPTION_MISSES]:
        body = await api.gql(document, variables)
        assert any("Did you mean" in e["message"] for e in body["errors"]), document


async def test_production_suggests_nothing_over_http(api: Api, db: Database) -> None:
    """Input fields were suggested ("Did you mean 'search'? Found: …"): the hint was
    mid-message, and only hints at the end were removed. With and without a token; POST and
    GET."""
    async with client(db, env="production") as c:
        for who in (api, None):
            for document, variables in NEAR_MISSES:
                body = await post(c, who, {"query": document, "variables": variables})
                assert_no_suggestions(body["errors"])
                if document.startswith("mutation"):
                    continue
                params = {"query": document}
                if variables:
                    params["variables"] = json.dumps(variables)
                response = await c.get("/graphql", params=params)
                assert_no_suggestions(response.json()["errors"])


async def test_production_suggests_nothing_over_the_websocket(
    api: Api, production_ws: TestClient
) -> None:
    """Websocket results go out before the operation ends (where suggestions were removed)."""
    with production_ws.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {api.token}"}}
        )
        assert ws.receive_json() == {"type": "connection_ack"}
        payloads = [
            {"query": document, "variables": variables}
            for document, variables in [*NEAR_MISSES, *SUBSCRIPTION_MISSES]
        ]
        for errors in results(ws, payloads):
            assert_no_suggestions(errors)
