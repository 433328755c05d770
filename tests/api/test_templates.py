"""sequenceTemplates and saveAsTemplate through GraphQL."""

from __future__ import annotations

import pytest

from tests.conftest import Api

TEMPLATE = "id name description recordType isBuiltin stepCount durationDays durationHours steps { key type name description config parentKey branch }"
SEQ = (
    "sequence { id status steps { key type } validation { canActivate problems { code stepKey } } }"
)

#: domain.md, "Templates and tags": record type, steps (without waits), days.
BUILTINS = {
    "builtin:no-show-follow-up": ("contact", 7, 5.0),
    "builtin:high-volume-prospecting": ("lead", 7, 9.0),
    "builtin:event-invitation": ("contact", 6, 5.0),
    "builtin:demo-request-meeting": ("opportunity", 9, 5.0),
    "builtin:account-renewal": ("account", 13, 50.0),
    "builtin:webinar-follow-up": ("lead", 10, 7.0),
}


async def templates(api: Api, record_type: str | None = None) -> list[dict]:
    data = await api.ok(
        f"query($rt: String) {{ sequenceTemplates(recordType: $rt) {{ {TEMPLATE} }} }}",
        {"rt": record_type},
    )
    return data["sequenceTemplates"]


async def test_lists_the_builtins(api: Api) -> None:
    found = await templates(api)
    assert {
        t["id"]: (t["recordType"], t["stepCount"], t["durationDays"]) for t in found
    } == BUILTINS
    assert all(t["isBuiltin"] and t["name"] and t["description"] for t in found)
    renewal = next(t for t in found if t["id"] == "builtin:account-renewal")
    assert renewal["durationHours"] == 50 * 24
    start = renewal["steps"][0]
    assert (start["type"], start["parentKey"], start["branch"]) == ("core.start", None, None)
    assert {s["branch"] for s in renewal["steps"][1:]} == {"NEXT", "YES", "NO"}
    leads = await templates(api, "lead")
    assert [t["id"] for t in leads] == [
        "builtin:high-volume-prospecting",
        "builtin:webinar-follow-up",
    ]
    assert await templates(api, "invoice") == []


@pytest.mark.parametrize("template_id", list(BUILTINS))
async def test_each_builtin_activates_unchanged(api: Api, template_id: str) -> None:
    created = await api.mutate(
        "createSequence", {"name": "From a template", "templateId": template_id}, SEQ
    )
    assert created["errors"] == []
    seq = created["sequence"]
    assert seq["validation"] == {"canActivate": True, "problems": []}
    waits = sum(1 for s in seq["steps"] if s["type"] == "core.wait")
    assert len(seq["steps"]) - waits - 1 == BUILTINS[template_id][1]
    activated = await api.mutate(
        "activateSequence", {"sequenceId": seq["id"]}, "sequence { status }"
    )
    assert activated["errors"] == []
    assert activated["sequence"]["status"] == "ACTIVE"


async def test_unknown_template(api: Api) -> None:
    payload = await api.mutate("createSequence", {"name": "X", "templateId": "builtin:nope"}, SEQ)
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["templateId"])]


async def test_save_as_template(api: Api, other_api: Api) -> None:
    created = await api.mutate(
        "createSequence",
        {"name": "Demo, our way", "templateId": "builtin:demo-request-meeting"},
        SEQ,
    )
    seq_id = created["sequence"]["id"]
    saved = await api.mutate(
        "saveAsTemplate",
        {"sequenceId": seq_id, "name": "Demo requests (EMEA)", "description": "Our tuned version."},
        f"template {{ {TEMPLATE} }}",
    )
    assert saved["errors"] == []
    template = saved["template"]
    assert (template["name"], template["description"], template["recordType"]) == (
        "Demo requests (EMEA)",
        "Our tuned version.",
        "opportunity",
    )
    assert (template["isBuiltin"], template["stepCount"], template["durationDays"]) == (
        False,
        9,
        5.0,
    )
    assert [s["key"] for s in template["steps"]] == [s["key"] for s in created["sequence"]["steps"]]

    listed = await templates(api, "opportunity")
    assert [t["id"] for t in listed] == ["builtin:demo-request-meeting", template["id"]]
    assert template["id"] not in [t["id"] for t in await templates(other_api)]

    again = await api.mutate(
        "createSequence", {"name": "Second", "templateId": template["id"]}, SEQ
    )
    assert again["errors"] == [] and again["sequence"]["validation"]["canActivate"]
    elsewhere = await other_api.mutate(
        "createSequence", {"name": "Theirs", "templateId": template["id"]}, SEQ
    )
    assert [e["code"] for e in elsewhere["errors"]] == ["NOT_FOUND"]

    duplicate = await api.mutate(
        "saveAsTemplate", {"sequenceId": seq_id, "name": "demo requests (emea)"}, "template { id }"
    )
    assert [(e["code"], e["field"]) for e in duplicate["errors"]] == [("DUPLICATE", ["name"])]
    assert duplicate["template"] is None
    blank = await api.mutate(
        "saveAsTemplate", {"sequenceId": seq_id, "name": " "}, "template { id }"
    )
    assert [(e["code"], e["field"]) for e in blank["errors"]] == [("REQUIRED", ["name"])]
    missing = await api.mutate(
        "saveAsTemplate", {"sequenceId": "nope", "name": "N"}, "template { id }"
    )
    assert [(e["code"], e["field"]) for e in missing["errors"]] == [("NOT_FOUND", ["sequenceId"])]
    stranger = await other_api.mutate(
        "saveAsTemplate", {"sequenceId": seq_id, "name": "N"}, "template { id }"
    )
    assert [e["code"] for e in stranger["errors"]] == ["NOT_FOUND"]


async def test_who_may_save(api: Api) -> None:
    org_seq = await api.mutate("createSequence", {"name": "Team sequence"}, SEQ)
    _, seller_token = await api.user(["SALESPERSON"])
    seller = api.as_token(seller_token)
    assert len(await templates(seller)) == len(BUILTINS)
    refused = await seller.mutate(
        "saveAsTemplate",
        {"sequenceId": org_seq["sequence"]["id"], "name": "Mine"},
        "template { id }",
    )
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    personal = await seller.mutate("createSequence", {"name": "My own", "isPersonal": True}, SEQ)
    allowed = await seller.mutate(
        "saveAsTemplate",
        {"sequenceId": personal["sequence"]["id"], "name": "Mine"},
        "template { isBuiltin }",
    )
    assert allowed == {"errors": [], "template": {"isBuiltin": False}}
    _, manager_token = await api.user(["SALES_MANAGER"])
    manager = await api.as_token(manager_token).mutate(
        "saveAsTemplate",
        {"sequenceId": org_seq["sequence"]["id"], "name": "Managed"},
        "template { name }",
    )
    assert manager == {"errors": [], "template": {"name": "Managed"}}


async def test_feature_disabled(api: Api) -> None:
    seq = await api.mutate("createSequence", {"name": "Before"}, SEQ)
    await api.mutate(
        "updateOrganizationSettings", {"sequencesEnabled": False}, "organization { id }"
    )
    body = await api.gql("{ sequenceTemplates { id } }")
    assert body["errors"][0]["extensions"]["code"] == "FEATURE_DISABLED"
    payload = await api.mutate(
        "saveAsTemplate", {"sequenceId": seq["sequence"]["id"], "name": "N"}, "template { id }"
    )
    assert [e["code"] for e in payload["errors"]] == ["FEATURE_DISABLED"]


async def test_needs_a_token(api: Api) -> None:
    body = await api.gql("{ sequenceTemplates { id } }", token=None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
