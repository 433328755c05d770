"""A sequence's enrollment rules move with it (format version 4): owners by email, teams by
name; an import checks them against the receiving organization as setEnrollmentRules does,
and a document without them (versions 1 to 3) means none."""

from __future__ import annotations

import copy
from typing import Any

from tests.api.sequences_helpers import simple_active
from tests.conftest import Api
from tests.transfer.helpers import codes, export, import_, ok, row_counts

TEAM = "Nordic reps"
OWNER = "rules-owner@example.com"
READ = """query($id: ID!) { sequence(id: $id) { enrollmentRules { key name filter {
  ownerUserId ownerTeamId stage search externalIds } fieldConditions { field operator value }
  allowReenrollment reenrollAfterDays } } }"""
HOT = {"field": "rating", "operator": "EQUALS", "value": "Hot"}


async def owners(api: Api) -> tuple[str, str]:
    """A team and a user every environment of the test has: their global ids here."""
    team = await ok(api, "createTeam", {"name": TEAM, "kind": "OWNER"}, "team { id }")
    _, token = await api.user(["SALESPERSON"], email=OWNER)
    me = await api.as_token(token).ok("{ viewer { user { id } } }")
    return team["team"]["id"], me["viewer"]["user"]["id"]


async def with_rules(api: Api, name: str, team: str, user: str) -> str:
    seq = await simple_active(api, name)
    rules = [
        {
            "key": "hot-qualify",
            "name": "Hot leads in Qualify",
            "filter": {"stage": "Qualify", "ownerTeamId": team},
            "fieldConditions": [HOT],
            "allowReenrollment": True,
            "reenrollAfterDays": 30,
        },
        {"key": "mine", "filter": {"ownerUserId": user, "search": "acme"}},
    ]
    await ok(api, "setEnrollmentRules", {"sequenceId": seq["id"], "rules": rules})
    return str(seq["id"])


async def rules_of(api: Api, sequence_id: str) -> list[dict[str, Any]]:
    return list((await api.ok(READ, {"id": sequence_id}))["sequence"]["enrollmentRules"])


async def test_enrollment_rules_move_to_another_organization(api: Api, other_api: Api) -> None:
    team, user = await owners(api)
    document = await export(api, [await with_rules(api, "Segmented", team, user)])
    assert document["version"] == 4
    [entry] = document["sequences"]
    assert entry["enrollmentRules"] == [
        {
            "key": "hot-qualify",
            "name": "Hot leads in Qualify",
            "filter": {
                "ownerUser": None,
                "ownerTeam": TEAM,
                "stage": "Qualify",
                "search": None,
                "externalIds": None,
            },
            "fieldConditions": [HOT],
            "allowReenrollment": True,
            "reenrollAfterDays": 30,
        },
        {
            "key": "mine",
            "name": "mine",
            "filter": {
                "ownerUser": OWNER,
                "ownerTeam": None,
                "stage": None,
                "search": "acme",
                "externalIds": None,
            },
            "fieldConditions": [],
            "allowReenrollment": False,
            "reenrollAfterDays": 0,
        },
    ]
    other_team, other_user = await owners(other_api)
    payload = await import_(other_api, document, activate=True)
    assert payload["errors"] == []
    imported = payload["report"]["sequences"][0]["sequence"]["id"]
    shown = await rules_of(other_api, imported)
    assert [(r["key"], r["filter"]["ownerTeamId"], r["filter"]["ownerUserId"]) for r in shown] == [
        ("hot-qualify", other_team, None),
        ("mine", None, other_user),
    ]
    assert (await export(other_api, [imported]))["sequences"][0]["enrollmentRules"] == (
        entry["enrollmentRules"]
    )
    again = await import_(other_api, document, activate=True)
    assert [(s["action"], s["unchanged"]) for s in again["report"]["sequences"]] == [("SKIP", True)]

    # changed rules update the sequence, active as it is; none removes them
    changed = copy.deepcopy(document)
    changed["sequences"][0]["enrollmentRules"] = entry["enrollmentRules"][1:]
    payload = await import_(other_api, changed)
    assert payload["errors"] == []
    assert [r["key"] for r in await rules_of(other_api, imported)] == ["mine"]
    changed["sequences"][0]["enrollmentRules"] = []
    assert (await import_(other_api, changed))["errors"] == []
    assert await rules_of(other_api, imported) == []


async def test_bad_enrollment_rules_import_nothing(api: Api, other_api: Api) -> None:
    team, user = await owners(api)
    document = await export(api, [await with_rules(api, "Bad segments", team, user)])
    rules: list[dict[str, Any]] = document["sequences"][0]["enrollmentRules"]
    rules[0]["filter"]["stage"] = "Won"
    rules[0]["fieldConditions"].append({"field": "shoe_size", "operator": "IS_SET"})
    rules[1]["key"] = "hot-qualify"
    before = await row_counts(other_api.db)  # the other organization has neither owner
    payload = await import_(other_api, document, activate=True)
    assert codes(payload) == [
        ("UNKNOWN_TEAM", "sequences.0.enrollmentRules.0.filter.ownerTeam"),
        ("UNKNOWN_USER", "sequences.0.enrollmentRules.1.filter.ownerUser"),
        ("UNKNOWN_STAGE", "sequences.0.enrollmentRules.0.filter.stage"),
        ("UNKNOWN_FIELD", "sequences.0.enrollmentRules.0.fieldConditions.1.field"),
        ("DUPLICATE", "sequences.0.enrollmentRules.1.key"),
    ]
    assert await row_counts(other_api.db) == before
    rules[0]["fieldConditions"] = [{"field": "rating", "operator": "LIKE"}]
    payload = await import_(other_api, document)
    assert codes(payload) == [
        ("INVALID_DOCUMENT", "sequences.0.enrollmentRules.0.fieldConditions.0.operator")
    ]


async def test_an_older_document_imports_without_rules(api: Api, other_api: Api) -> None:
    document = await export(api, [(await simple_active(api, "Old format"))["id"]])
    assert document["sequences"][0]["enrollmentRules"] == []
    del document["sequences"][0]["enrollmentRules"]
    payload = await import_(other_api, {**document, "version": 3})
    assert payload["errors"] == []
    imported = payload["report"]["sequences"][0]["sequence"]["id"]
    assert await rules_of(other_api, imported) == []


async def test_a_rule_naming_a_deleted_team_is_not_exported(api: Api) -> None:
    """Left out, the team would widen the rule where it is imported: the export refuses."""
    team, user = await owners(api)
    sequence_id = await with_rules(api, "Gone team", team, user)
    await ok(api, "deleteTeam", {"teamId": team})
    payload = await api.mutate("exportSequences", {"sequenceIds": [sequence_id]}, "document")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_VALUE", ["sequenceIds"])
    ]
    assert "Gone team" in payload["errors"][0]["message"]
