"""Administering users, roles and tokens, and the role check."""

from __future__ import annotations

from tests.conftest import Api

USER = "user { id email name timeZone roles workingHours { weekday start end } }"


async def test_create_user_and_roles(api: Api) -> None:
    payload = await api.mutate(
        "createUser",
        {
            "email": " Kari@Example.com ",
            "name": "Kari",
            "roles": ["SALESPERSON"],
            "timeZone": "Europe/Oslo",
        },
        USER,
    )
    assert payload["errors"] == []
    user = payload["user"]
    assert user["email"] == "kari@example.com"
    assert user["roles"] == ["SALESPERSON"]
    assert user["timeZone"] == "Europe/Oslo"
    assert len(user["workingHours"]) == 5
    payload = await api.mutate(
        "setUserRoles", {"userId": user["id"], "roles": ["SALESPERSON", "SALES_MANAGER"]}, USER
    )
    assert payload["user"]["roles"] == ["SALESPERSON", "SALES_MANAGER"]
    found = await api.ok("{ users(role: SALES_MANAGER) { totalCount nodes { email } } }")
    assert found["users"]["nodes"] == [{"email": "kari@example.com"}]


async def test_duplicate_email_is_refused(api: Api) -> None:
    first = await api.mutate(
        "createUser", {"email": "a@example.com", "name": "A", "roles": []}, "user { id }"
    )
    assert first["errors"] == []
    again = await api.mutate(
        "createUser", {"email": "A@example.com", "name": "B", "roles": []}, "user { id }"
    )
    assert again["user"] is None
    assert again["errors"] == [
        {
            "code": "DUPLICATE",
            "message": "A user with email a@example.com exists.",
            "field": ["email"],
            "stepId": None,
            "index": None,
        }
    ]
    count = await api.ok("{ users { totalCount } }")
    assert count["users"]["totalCount"] == 2


async def test_unknown_role_writes_nothing(api: Api) -> None:
    payload = await api.mutate(
        "createUser",
        {"email": "b@example.com", "name": "B", "roles": ["SALESPERSON", "WIZARD"]},
        "user { id }",
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("UNKNOWN_ROLE", ["roles", "1"])
    ]
    assert (await api.ok("{ users { totalCount } }"))["users"]["totalCount"] == 1


async def test_bad_profile_values(api: Api) -> None:
    payload = await api.mutate(
        "createUser",
        {
            "email": "not-an-email",
            "name": " ",
            "roles": [],
            "timeZone": "Mars/Olympus",
            "workingHours": [
                {"weekday": 8, "start": "09:00", "end": "17:00"},
                {"weekday": 1, "start": "18:00", "end": "09:00"},
            ],
        },
        "user { id }",
    )
    fields = sorted(tuple(e["field"]) for e in payload["errors"])
    assert fields == [
        ("email",),
        ("name",),
        ("timeZone",),
        ("workingHours", "0"),
        ("workingHours", "1"),
    ]


async def test_salesperson_may_not_administer(api: Api) -> None:
    _, token = await api.user(["SALESPERSON"])
    seller = api.as_token(token)
    payload = await seller.mutate(
        "createUser", {"email": "c@example.com", "name": "C", "roles": []}, "user { id }"
    )
    assert payload["errors"][0]["code"] == "FORBIDDEN"
    assert "SYSTEM_ADMINISTRATOR" in payload["errors"][0]["message"]
    # ...but may change their own profile and make their own tokens.
    me = await seller.ok("{ viewer { user { id } } }")
    own = await seller.mutate(
        "updateUser", {"userId": me["viewer"]["user"]["id"], "name": "Me"}, "user { name }"
    )
    assert own == {"errors": [], "user": {"name": "Me"}}
    deactivate = await seller.mutate(
        "updateUser", {"userId": me["viewer"]["user"]["id"], "isActive": False}, "user { name }"
    )
    assert deactivate["errors"][0]["code"] == "FORBIDDEN"
    token_payload = await seller.mutate("createApiToken", {"name": "mine"}, "secret")
    assert token_payload["secret"].startswith("skv_")


async def test_last_administrator_keeps_the_role(api: Api) -> None:
    me = await api.ok("{ viewer { user { id } } }")
    payload = await api.mutate(
        "setUserRoles",
        {"userId": me["viewer"]["user"]["id"], "roles": ["SALESPERSON"]},
        "user { roles }",
    )
    assert payload["errors"][0]["code"] == "INVALID_VALUE"
    assert (await api.ok("{ viewer { roles } }"))["viewer"]["roles"] == ["SYSTEM_ADMINISTRATOR"]


async def test_deactivated_user_token_stops_working(api: Api) -> None:
    _user_id, token = await api.user(["SALESPERSON"])
    assert (await api.post("{ viewer { roles } }", token=token)).status_code == 200
    users = await api.ok("{ users(role: SALESPERSON) { nodes { id } } }")
    payload = await api.mutate(
        "updateUser",
        {"userId": users["users"]["nodes"][0]["id"], "isActive": False},
        "user { isActive }",
    )
    assert payload["user"]["isActive"] is False
    assert (await api.post("{ viewer { roles } }", token=token)).status_code == 401


async def test_users_pagination(api: Api) -> None:
    for i in range(5):
        await api.user(["SALESPERSON"], email=f"p{i}@example.com")
    page = await api.ok(
        "{ users(first: 2) { totalCount edges { cursor node { email } } pageInfo { hasNextPage endCursor } } }"
    )
    assert page["users"]["totalCount"] == 6
    assert page["users"]["pageInfo"]["hasNextPage"] is True
    seen = [e["node"]["email"] for e in page["users"]["edges"]]
    cursor = page["users"]["pageInfo"]["endCursor"]
    while cursor:
        page = await api.ok(
            "query($after: String) { users(first: 2, after: $after) { nodes { email } pageInfo { hasNextPage endCursor } } }",
            {"after": cursor},
        )
        seen += [n["email"] for n in page["users"]["nodes"]]
        cursor = (
            page["users"]["pageInfo"]["endCursor"]
            if page["users"]["pageInfo"]["hasNextPage"]
            else None
        )
    assert len(seen) == len(set(seen)) == 6
    last = await api.ok("{ users(last: 2) { nodes { email } pageInfo { hasPreviousPage } } }")
    assert [n["email"] for n in last["users"]["nodes"]] == seen[-2:]
    too_many = await api.gql("{ users(first: 101) { totalCount } }")
    assert too_many["errors"][0]["extensions"]["code"] == "TOO_MANY"
