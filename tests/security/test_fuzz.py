"""Fuzzing the API over HTTP with hypothesis-graphql: valid and invalid queries and mutations,
random variables, broken documents and bodies.

Every response must be free of HTTP 500s and unexpected errors: each error carries a code
(other than INTERNAL_ERROR), or is a parse or validation error (no `path`); no message
holds a stack trace, SQL or a file path; and no response holds an id of another
organization that the request did not send itself.

`make test` runs a bounded number of cases (see `CASES`), the same ones each time; `make fuzz`
runs SEKVENS_FUZZ_SCALE times as many, new ones each time (and only this file).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import httpx
import pytest
from graphql import GraphQLInputObjectType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.domain.global_ids import to_global_id
from sekvens.graphql_schema import build_schema
from sekvens.schema.relay import offset_cursor
from sekvens.storage.db import Database
from tests.conftest import Api
from tests.security.world import World, build_world, ids_in

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
#: Cases per test and backend in a bounded run.
CASES = {"valid": 100, "invalid": 50, "odd": 50, "variables": 50, "broken": 30}
SCHEMA = build_schema()._schema

LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|/work/|site-packages|sqlalchemy|asyncpg|aiosqlite|sqlite3"
    r"|psycopg|\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.*\bSET\b|\bDELETE FROM\b"
    r"|IntegrityError|OperationalError|ProgrammingError",
    re.IGNORECASE | re.DOTALL,
)


def fuzz_settings(kind: str) -> Any:
    return settings(
        max_examples=CASES[kind] * SCALE,
        deadline=None,
        database=None,
        # `make test` runs the same cases each time (CI stays reproducible); `make fuzz` explores.
        derandomize=SCALE == 1,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(scope="module")
async def fuzz(db: Database) -> AsyncIterator[tuple[World, httpx.AsyncClient, set[str]]]:
    """Organization A (its world), a client of an app without rate limit, and organization
    B's ids. The fuzzer acts as an administrator of A whose own token is in no id pool."""
    app = create_app(Settings(database_url=db.settings.database_url, rate_limit_per_second=0), db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as client:
        world = await build_world(client, db, app.state.services.engine)
        other = World(admin=world.other, other=world.admin, engine=world.engine)
        other.user_ids["admin"] = (await other.ok("{ viewer { user { id } } }"))["viewer"]["user"][
            "id"
        ]
        other.objects["active"] = (await other.sequence(active=True))["id"]
        await other.connection()
        await other.tag()
        await other.team()
        await other.ok(
            "{ users { nodes { id } } records { nodes { id } } sequences { nodes { id steps { id }"
            " versions { id } } } tags { id } connections { nodes { id } } teams { nodes { id } }"
            " viewer { organization { id } } }"
        )
        _, world.tokens["fuzzer"] = await world.admin.user(["SYSTEM_ADMINISTRATOR"])
        yield world, client, other.seen


TYPE_NAMES = ["Sequence", "User", "Record", "Tag", "Team", "SequenceTarget", "Activity", "Step"]


def _global_id(type_name: str, number: int | str) -> str:
    return to_global_id(type_name, f"{number}:k" if type_name == "Step" else number)


#: Global ids whose number names no row: beyond the database's integer range (int4, int8 and
#: far beyond), zero, negative, 10,000 digits long; and long base64 that decodes to nothing.
OUT_OF_RANGE_IDS = st.one_of(
    st.builds(
        _global_id,
        st.sampled_from(TYPE_NAMES),
        st.sampled_from([0, -1, -(2**63) - 1, 2**31, 2**63, 2**64 + 1, 10**40, "9" * 10_000])
        | st.integers(2**63, 2**80)
        | st.integers(max_value=0),
    ),
    st.sampled_from([1_000, 100_000]).map(lambda n: "QUFB" * (n // 4)),
)
#: Cursors with offsets beyond the range.
OUT_OF_RANGE_CURSORS = st.integers(2**62, 2**80).map(offset_cursor)
#: Date-times without a UTC offset, and ones at the ends of the calendar whose offset moves
#: them beyond it in UTC.
ODD_DATETIMES = st.datetimes().map(lambda d: d.isoformat()) | st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00.000001+23:59",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59.999999-23:59",
        "2030-01-31T09:00:00",
        "2030-01-31",
        "2030-01-31T24:00:00Z",
    ]
)
#: Strings over the length limits (search, names, keys) up to 100,000 characters (a tenth of
#: the body limit), repeating a few characters that may be any (NUL, non-BMP).
LONG_STRINGS = st.builds(
    lambda piece, n: piece * (n // len(piece)),
    st.text(min_size=1, max_size=3),
    st.sampled_from([201, 2_001, 10_000, 100_000]),
)


def ids(world: World, theirs: set[str]) -> st.SearchStrategy[Any]:
    """IDs: organization A's, organization B's, made up ones and ones out of range."""
    made_up = st.one_of(
        st.text(max_size=12),
        st.sampled_from(["VXNlcjox", "U2VxdWVuY2U6MQ", "U3RlcDoxOng", "VGFnOi0x", "=="]),
        OUT_OF_RANGE_IDS,
    )
    pool = sorted(world.seen | theirs)
    return st.one_of(st.sampled_from(pool), made_up).map(nodes.String)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner)


SCALARS_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20), _nested, max_leaves=8
)


def scalars(world: World, theirs: set[str]) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "ID": ids(world, theirs),
        # Long strings in about one of eight, so that a document rarely passes the body limit.
        "String": st.integers(0, 7).flatmap(
            lambda i: (LONG_STRINGS if i == 7 else st.text()).map(nodes.String)
        ),
        "DateTime": st.one_of(
            st.datetimes(timezones=st.just(UTC)).map(lambda d: nodes.String(d.isoformat())),
            ODD_DATETIMES.map(nodes.String),
            st.text(max_size=10).map(nodes.String),
        ),
        "Date": st.one_of(
            st.dates().map(lambda d: nodes.String(d.isoformat())),
            st.text(max_size=10).map(nodes.String),
        ),
        "JSON": st.one_of(
            st.dictionaries(
                st.sampled_from(["subject", "days", "template", "x"]), st.integers()
            ).map(lambda d: nodes.Object([_field(k, nodes.Int(v)) for k, v in d.items()])),
            st.text(max_size=10).map(nodes.String),
        ),
    }


#: Strings that pass a format check and are then too long for a column, or nearly right.
ODD_STRINGS = st.one_of(
    LONG_STRINGS,
    st.sampled_from([101, 161, 255, 401, 4_001]).flatmap(
        lambda n: st.sampled_from(["x" * n, "x" * n + "@example.com", "{{ x }}" + "x" * n])
    ),
    st.sampled_from(["", " ", "lead", "UTC", "Europe", "a@b.co", "\x00", "%_\\"]),
)


def odd_scalars(world: World, theirs: set[str]) -> dict[str, st.SearchStrategy[Any]]:
    """Scalars that are well-formed but odd: long strings, ids that name nothing, date-times
    at the calendar's ends, plugin configs with long values."""
    return {
        **scalars(world, theirs),
        "String": ODD_STRINGS.map(nodes.String),
        "DateTime": ODD_DATETIMES.map(nodes.String),
        "JSON": st.dictionaries(
            st.sampled_from(["subject", "body", "template", "days", "script", "field", "x"]),
            ODD_STRINGS.map(nodes.String) | st.integers().map(nodes.Int),
            max_size=3,
        ).map(lambda d: nodes.Object([_field(k, v) for k, v in d.items()])),
    }


def _field(name: str, value: Any) -> Any:
    from graphql import NameNode, ObjectFieldNode

    return ObjectFieldNode(name=NameNode(value=name), value=value)


def check(
    response: httpx.Response, sent: Any, theirs: set[str], document: str | None = None
) -> None:
    where = f"\n--- sent: {sent if document is None else document}\n--- got: {response.text[:2000]}"
    assert response.status_code in (200, 400, 401, 405, 413, 415), where
    body = response.json()
    entries = body if isinstance(body, list) else [body]
    for entry in entries:
        for error in entry.get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            assert code != "INTERNAL_ERROR", where
            assert code is not None or "path" not in error, "an error without a code" + where
            assert not LEAKS.search(error.get("message", "")), where
        leaked = {i for i in ids_in(entry.get("data")) if i in theirs} - set(ids_in(sent))
        if document is not None:
            leaked = {i for i in leaked if i not in document}
        assert not leaked, f"organization B's {leaked}" + where


async def send(client: httpx.AsyncClient, world: World, body: Any) -> httpx.Response:
    return await client.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {world.tokens['fuzzer']}"}
    )


@fuzz_settings("valid")
@given(data=st.data())
async def test_valid_operations(fuzz: Any, data: st.DataObject) -> None:
    world, client, theirs = fuzz
    document = data.draw(from_schema(SCHEMA, custom_scalars=scalars(world, theirs)))
    response = await send(client, world, {"query": document})
    check(response, None, theirs, document)


@fuzz_settings("invalid")
@given(data=st.data())
async def test_invalid_operations(fuzz: Any, data: st.DataObject) -> None:
    world, client, theirs = fuzz
    document = data.draw(
        from_schema(SCHEMA, custom_scalars=scalars(world, theirs), mode=Mode.NEGATIVE)
    )
    response = await send(client, world, {"query": document})
    check(response, None, theirs, document)
    assert response.json().get("errors"), document


MUTATIONS = sorted(SCHEMA.mutation_type.fields)


@fuzz_settings("odd")
@given(data=st.data())
async def test_mutations_with_odd_values(fuzz: Any, data: st.DataObject) -> None:
    """Valid mutations, one at a time, whose scalars are odd: values that reach the resolvers
    and storage rather than stopping at validation."""
    world, client, theirs = fuzz
    name = data.draw(st.sampled_from(MUTATIONS))
    document = data.draw(
        from_schema(SCHEMA, fields=[name], custom_scalars=odd_scalars(world, theirs))
    )
    response = await send(client, world, {"query": document})
    check(response, None, theirs, document)


def _documents() -> list[str]:
    out = []
    for name, f in SCHEMA.mutation_type.fields.items():
        out.append(
            f"mutation($input: {f.args['input'].type}) {{ {name}(input: $input) "
            "{ errors { code message field } } }"
        )
    out += [
        "query($id: ID!) { node(id: $id) { id __typename } }",
        "query($id: ID!) { sequence(id: $id) { id name steps { id type config } } }",
        "query($f: ConnectionFilter, $n: Int) { connections(first: $n, filter: $f)"
        " { nodes { id record { id } } } }",
        "query($f: RecordFilterInput, $n: Int, $a: String) { records(first: $n, after: $a,"
        " filter: $f) { nodes { id fields } } }",
        "query($f: SequenceFilter, $s: String, $n: Int) { sequences(search: $s, filter: $f,"
        " last: $n) { nodes { id } } }",
    ]
    return out


DOCUMENTS = _documents()
#: Input field names of the schema, to build inputs that reach the resolvers.
FIELD_NAMES = sorted(
    {
        name
        for t in SCHEMA.type_map.values()
        if isinstance(t, GraphQLInputObjectType)
        for name in t.fields
    }
)


@fuzz_settings("variables")
@given(data=st.data())
async def test_random_variables(fuzz: Any, data: st.DataObject) -> None:
    """Real documents, variables of random JSON (or of organization A's and B's ids)."""
    world, client, theirs = fuzz
    document = data.draw(st.sampled_from(DOCUMENTS))
    some_id = st.sampled_from(sorted(world.seen | theirs)) | OUT_OF_RANGE_IDS
    bad = st.one_of(ODD_DATETIMES, LONG_STRINGS, OUT_OF_RANGE_CURSORS)
    value = st.one_of(
        SCALARS_JSON,
        some_id,
        bad,
        st.dictionaries(st.text(max_size=12), SCALARS_JSON),
        st.dictionaries(st.sampled_from(FIELD_NAMES), st.one_of(SCALARS_JSON, some_id, bad)),
    )
    names = re.findall(r"\$(\w+):", document)
    variables = {n: data.draw(value) for n in names if data.draw(st.booleans())}
    body = {"query": document, "variables": variables}
    check(await send(client, world, body), body, theirs, document)


BROKEN = st.one_of(
    st.text(max_size=60),
    st.sampled_from(DOCUMENTS).flatmap(
        lambda d: st.integers(0, len(d)).map(lambda i: d[:i] + d[i + 1 :])
    ),
    st.sampled_from(["{", "}", "{ viewer { ", "query { ...F }", "fragment F on F { a }", "\x00"]),
)


@fuzz_settings("broken")
@given(
    body=st.one_of(
        BROKEN.map(lambda q: {"query": q}),
        st.fixed_dictionaries(
            {"query": st.sampled_from(DOCUMENTS)},
            optional={
                "variables": SCALARS_JSON,
                "operationName": SCALARS_JSON,
                "extensions": SCALARS_JSON,
            },
        ),
        SCALARS_JSON,
    )
)
async def test_broken_documents_and_bodies(fuzz: Any, body: Any) -> None:
    world, client, theirs = fuzz
    response = await send(client, world, body)
    check(response, body, theirs, json.dumps(body))


# --- Found by fuzzing: one test each ------------------------------------------------------------


async def test_last_with_an_empty_before_cursor(api: Api) -> None:
    data = await api.ok('{ recordTypes(last: 2, before: "") { nodes { name } } }')
    assert len(data["recordTypes"]["nodes"]) == 2


async def test_a_json_body_that_is_no_object_is_a_400(http: httpx.AsyncClient) -> None:
    for body in (b"false", b"1", b'"query"', b"null", b"[1]"):
        response = await http.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, body
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "INVALID_VALUE", body


async def test_wrong_variables_keep_their_message(api: Api) -> None:
    body = await api.gql("query($n: Int) { users(first: $n) { totalCount } }", {"n": "ten"})
    [error] = body["errors"]
    assert error["message"].startswith("Variable '$n' has invalid value"), error
    assert "extensions" not in error or error["extensions"].get("code") != "INTERNAL_ERROR"


async def test_a_refusal_inside_a_list_query_keeps_its_code(api: Api) -> None:
    body = await api.gql("{ upNext(first: 1000) { totalCount } }")
    assert body["errors"][0]["extensions"] == {"code": "TOO_MANY", "field": ["first"]}


async def test_sequences_ordered_by_step_count(api: Api) -> None:
    for name, tasks in (("Two", 2), ("None", 0), ("One", 1)):
        seq = (await api.mutate("createSequence", {"name": name}, "sequence { id steps { id } }"))[
            "sequence"
        ]
        after = seq["steps"][0]["id"]
        for _ in range(tasks):
            step = await api.mutate(
                "addStep",
                {
                    "sequenceId": seq["id"],
                    "afterStepId": after,
                    "type": "core.task",
                    "config": {"subject": "Call"},
                },
                "step { id }",
            )
            after = step["step"]["id"]
        if name == "One":  # a second version: each sequence's newest counts, not the newest of all
            for change in ("activateSequence", "createSequenceRevision"):
                done = await api.mutate(change, {"sequenceId": seq["id"]}, "sequence { id }")
                assert done["errors"] == [], done
    for direction, expected in (("ASC", ["None", "One", "Two"]), ("DESC", ["Two", "One", "None"])):
        data = await api.ok(
            f"{{ sequences(orderBy: [{{field: STEP_COUNT, direction: {direction}}}])"
            " { nodes { name stepCount } } }"
        )
        assert [n["name"] for n in data["sequences"]["nodes"]] == expected, data


RACES = [
    '{ node(id: "QWN0aXZpdHk6MQ") { ... on Activity { record { updatedAt } step { category } } }'
    ' sequences(first: 0, last: 0, before: "x") { totalCount } }',
    "{ users { nodes { id teams { team { id } } roles } } records(first: -1) { totalCount } }",
    "{ records(first: -1) { totalCount } users { nodes { id teams { team { id } } roles } } }",
    "{ viewer { roles user { teams { team { members { user { id } } } } } }"
    " outbox(first: -5) { totalCount } }",
    '{ sequence(id: "U2VxdWVuY2U6MQ") { tags { id } steps { id } ownerUser { id } }'
    ' tags(parentId: "VGFnOjk5") { id } }',
]


async def test_a_failing_root_field_next_to_batched_ones(api: Api) -> None:
    """GraphQL cancels the siblings of a failed non-null root field, while their DataLoader
    batches go on in tasks of their own: the request's session must not close under them."""
    await api.mutate("createSequence", {"name": "Raced"}, "sequence { id }")
    for i in range(100):
        response = await api.post(RACES[i % len(RACES)])
        assert response.status_code == 200
        assert "INTERNAL_ERROR" not in response.text, response.text


async def test_a_date_time_beyond_the_calendar_in_utc(api: Api) -> None:
    """Fine as written, but its UTC moment is before year 1 or after 9999."""
    for value in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00.000001+23:59"):
        body = await api.gql(
            "mutation($at: DateTime) { createApiToken(input: {expiresAt: $at}) { secret } }",
            {"at": value},
        )
        [error] = body["errors"]
        assert error["extensions"] == {"code": "INVALID_VALUE", "field": ["at"]}, error
        body = await api.gql(
            f'mutation {{ createApiToken(input: {{expiresAt: "{value}"}}) {{ secret }} }}'
        )
        assert body["errors"][0]["extensions"]["code"] == "INVALID_VALUE", body


async def test_time_zones_that_are_directories_or_too_long(api: Api) -> None:
    me = (await api.ok("{ viewer { user { id } } }"))["viewer"]["user"]["id"]
    for zone in ("Europe", "America/", "x" * 10_000):
        for name, input in (
            ("updateOrganizationSettings", {"defaultTimeZone": zone}),
            ("updateUser", {"userId": me, "timeZone": zone}),
            (
                "createUser",
                {"email": "tz@example.com", "name": "Tz", "roles": [], "timeZone": zone},
            ),
        ):
            payload = await api.mutate(name, input, "__typename")
            assert [e["code"] for e in payload["errors"]] == ["INVALID_VALUE"], (name, zone)


async def test_an_email_and_a_token_name_longer_than_their_columns(api: Api) -> None:
    """PostgreSQL refused them (varchar); SQLite stored them."""
    email = "a" * 250 + "@example.com"
    payload = await api.mutate(
        "createUser", {"email": email, "name": "Long", "roles": []}, "user { id }"
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("TOO_LONG", ["email"])]
    payload = await api.mutate("createApiToken", {"name": "t" * 101}, "secret")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("TOO_LONG", ["name"])]
    assert (await api.mutate("createApiToken", {"name": "t" * 100}, "secret"))["errors"] == []


async def test_a_nul_character_in_text(api: Api) -> None:
    """PostgreSQL stores no U+0000 (in text or jsonb): refused before anything runs."""
    cases = [
        ("query($s: String) { users(search: $s) { totalCount } }", {"s": "a\x00"}, ["s"]),
        (
            "query($f: RecordFilterInput) { records(filter: $f) { totalCount } }",
            {"f": {"stage": "\x00"}},
            ["f", "stage"],
        ),
        (
            "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { secret } }",
            {"i": {"name": "t\x00"}},
            ["i", "name"],
        ),
        (
            'mutation { removeSuppressedAddresses(input: {addresses: ["a@b.co", "\\u0000"]})'
            " { removedCount } }",
            None,
            ["input", "addresses", "1"],
        ),
    ]
    for query, variables, field in cases:
        body = await api.gql(query, variables)
        [error] = body["errors"]
        assert error["extensions"] == {"code": "INVALID_VALUE", "field": field}, (query, error)
    assert (await api.ok('{ users(search: "\\u0001") { totalCount } }'))["users"]["totalCount"] == 0
