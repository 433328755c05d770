"""Setting sender identities through GraphQL: a user's own (updateUser: themself or an
administrator), the organization's default (updateOrganizationSettings: administrators);
omitted parts stay, null or empty clear; bad values are refused at their field and change
nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

IDENTITY = "senderIdentity { name address replyTo signature }"
ORG_IDENTITY = "name defaultSenderIdentity { name address replyTo signature }"


async def me(api: Api) -> dict[str, Any]:
    return (await api.ok(f"{{ viewer {{ user {{ id email name {IDENTITY} }} }} }}"))["viewer"][
        "user"
    ]


async def update_user(api: Api, user_id: str, **given: Any) -> dict[str, Any]:
    return await api.mutate("updateUser", {"userId": user_id, **given}, f"user {{ {IDENTITY} }}")


async def test_a_user_sets_their_own_identity_and_an_administrator_anyones(api: Api) -> None:
    _, token = await api.user(["SALESPERSON"], email="kari@example.com")
    kari = api.as_token(token)
    kari_id = (await me(kari))["id"]
    assert (await me(kari))["senderIdentity"] == {
        "name": None,
        "address": "kari@example.com",
        "replyTo": None,
        "signature": None,
    }
    payload = await update_user(
        kari,
        kari_id,
        senderName=' Kari "K" Nordmann, Sales ',
        replyTo="replies@example.com",
        signature="Kari\nAcme AS\n",
    )
    assert payload["errors"] == []
    assert payload["user"]["senderIdentity"] == {
        "name": 'Kari "K" Nordmann, Sales',
        "address": "kari@example.com",
        "replyTo": "replies@example.com",
        "signature": "Kari\nAcme AS\n",
    }
    # Omitted parts stay; null and empty clear.
    payload = await update_user(kari, kari_id, replyTo=None, signature="  ")
    assert payload["user"]["senderIdentity"] == {
        "name": 'Kari "K" Nordmann, Sales',
        "address": "kari@example.com",
        "replyTo": None,
        "signature": None,
    }
    # Another salesperson may not; an administrator may.
    _, other = await api.user(["SALESPERSON"])
    refused = await update_user(api.as_token(other), kari_id, senderName="Mallory")
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    payload = await update_user(api, kari_id, senderName="")
    assert payload["errors"] == [] and payload["user"]["senderIdentity"]["name"] is None


@pytest.mark.parametrize(
    ("given", "code", "field"),
    [
        ({"replyTo": "not an address"}, "INVALID_VALUE", ["replyTo"]),
        ({"replyTo": "a,b@example.com"}, "INVALID_VALUE", ["replyTo"]),
        ({"replyTo": "<a@example.com>"}, "INVALID_VALUE", ["replyTo"]),
        ({"replyTo": "x" * 250 + "@example.com"}, "TOO_LONG", ["replyTo"]),
        ({"senderName": "Kari\r\nBcc: all@example.com"}, "INVALID_VALUE", ["senderName"]),
        ({"senderName": "Kari\nNordmann"}, "INVALID_VALUE", ["senderName"]),
        ({"senderName": "K" * 161}, "TOO_LONG", ["senderName"]),
        ({"signature": "s" * 5_001}, "TOO_LONG", ["signature"]),
    ],
)
async def test_a_bad_user_identity_is_refused_and_changes_nothing(
    api: Api, given: dict[str, Any], code: str, field: list[str]
) -> None:
    user = await me(api)
    set_before = await update_user(api, user["id"], senderName="Before", signature="Sig")
    assert set_before["errors"] == []
    payload = await update_user(
        api, user["id"], **{"name": "Changed", "replyTo": "ok@x.no", **given}
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    after = await me(api)
    assert after["name"] == user["name"]
    assert after["senderIdentity"] == {
        "name": "Before",
        "address": user["email"],
        "replyTo": None,
        "signature": "Sig",
    }


async def test_the_organization_default_identity_is_for_administrators(api: Api) -> None:
    payload = await api.mutate(
        "updateOrganizationSettings",
        {
            "senderName": "Acme Sales",
            "senderAddress": "sales@acme.example",
            "replyTo": "replies@acme.example",
            "signature": "-- \nAcme",
        },
        f"organization {{ {ORG_IDENTITY} }}",
    )
    assert payload["errors"] == []
    expected = {
        "name": "Acme Sales",
        "address": "sales@acme.example",
        "replyTo": "replies@acme.example",
        "signature": "-- \nAcme",
    }
    assert payload["organization"]["defaultSenderIdentity"] == expected
    # A bad part is refused with the others and changes nothing.
    refused = await api.mutate(
        "updateOrganizationSettings",
        {"name": "Renamed", "senderAddress": "sales at acme", "senderName": "A\nB"},
        "organization { id }",
    )
    assert sorted((e["code"], tuple(e["field"])) for e in refused["errors"]) == [
        ("INVALID_VALUE", ("senderAddress",)),
        ("INVALID_VALUE", ("senderName",)),
    ]
    org = (await api.ok(f"{{ organization {{ {ORG_IDENTITY} }} }}"))["organization"]
    assert org["name"] == api.org and org["defaultSenderIdentity"] == expected
    # Salespeople may not set it; null clears a part, omitted ones stay.
    _, token = await api.user(["SALESPERSON"])
    refused = await api.as_token(token).mutate(
        "updateOrganizationSettings", {"senderName": "Mallory"}, "organization { id }"
    )
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    payload = await api.mutate(
        "updateOrganizationSettings",
        {"senderAddress": None, "signature": ""},
        f"organization {{ {ORG_IDENTITY} }}",
    )
    assert payload["organization"]["defaultSenderIdentity"] == {
        **expected,
        "address": None,
        "signature": None,
    }
