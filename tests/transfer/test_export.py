"""exportSequences: the document, its dependencies, who may export."""

from __future__ import annotations

from importlib.metadata import version

from jsonschema import Draft202012Validator

from sekvens.transfer.document import schema
from tests.api.sequences_helpers import simple_active
from tests.conftest import Api
from tests.transfer.helpers import OWNER_TEAM, SEND_WINDOW, build_source, export


async def test_export_writes_sequences_with_their_dependencies(api: Api) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    Draft202012Validator(schema()).validate(document)
    assert document["format"] == "sekvens.sequences" and document["version"] == 4
    assert document["source"] == {
        "environment": None,
        "organization": api.org,
        "sekvensVersion": version("sekvens"),
    }
    # The advance target came along by itself; sequences are listed by name.
    nurture, webinar = document["sequences"]
    assert (nurture["name"], webinar["name"]) == ("Nurture", "Webinar follow-up")
    assert webinar["key"] == source["webinar"]["key"]
    assert webinar["status"] == "ACTIVE" and webinar["isPersonal"] is False
    assert webinar["ownerTeam"] == OWNER_TEAM
    assert webinar["assignment"] == {
        "assignTo": "OWNING_TEAM",
        "fieldName": None,
        "teamRoles": ["Account manager"],
        "userRoles": [],
    }
    assert webinar["options"] == {
        "exitOnReply": True,
        "skipNonWorkingTime": True,
        "skipOptedOutEmail": True,
        "sendWindow": SEND_WINDOW,
        "exitCriteria": None,
    }
    assert webinar["tags"] == ["Campaigns", "Region/EMEA/Nordics"]
    assert nurture["tags"] == ["Campaigns/Nurture"]
    steps = {s["key"]: s for s in webinar["steps"]}
    assert steps["w-advance"]["config"] == {"sequence": nurture["key"]}  # the key, not the id
    assert steps["w-advance"]["parent"] == "w-stage" and steps["w-advance"]["branch"] == "YES"
    assert steps["w-call"]["description"] == "Ask about a demo"
    assert webinar["steps"][0]["type"] == "core.start"
    assert webinar["stepTypes"]["commands.advance_to_sequence"] == {
        "version": "1.0.0",
        "package": "sekvens",
    }
    assert set(webinar["stepTypes"]) == {s["type"] for s in webinar["steps"]}
    # Record types with the fields and stages the steps and assignment use, no more.
    [lead] = document["recordTypes"]
    assert lead["name"] == "lead" and lead["displayName"] == "Lead"
    assert lead["fields"] == [
        {"name": "company", "type": "TEXT"},
        {"name": "email", "type": "EMAIL"},
        {"name": "first_name", "type": "TEXT"},
        {"name": "phone", "type": "PHONE"},  # call.phone's default phone_field
        {"name": "qualified", "type": "BOOLEAN"},
    ]
    assert lead["stages"] == ["Qualify"]
    assert document["teams"] == [{"name": OWNER_TEAM, "kind": "OWNER"}]


async def test_export_without_dependencies_keeps_the_reference(api: Api) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]], include_dependencies=False)
    [webinar] = document["sequences"]
    advance = next(s for s in webinar["steps"] if s["key"] == "w-advance")
    assert advance["config"] == {"sequence": source["nurture"]["key"]}


async def test_export_shows_the_running_version_of_an_active_sequence(api: Api) -> None:
    seq = await simple_active(api, "Running")
    revision = await api.mutate(
        "createSequenceRevision", {"sequenceId": seq["id"]}, "sequence { id }"
    )
    assert revision["errors"] == []
    await api.mutate(
        "updateSequence", {"sequenceId": seq["id"], "name": "Draft name"}, "sequence { id }"
    )
    [exported] = (await export(api, [seq["id"]]))["sequences"]
    # The name is the sequence's (the draft renamed it); the steps are the running version's.
    assert [s["type"] for s in exported["steps"]] == ["core.start", "core.task"]


async def test_only_administrators_and_sequence_managers_export(api: Api, other_api: Api) -> None:
    seq = await simple_active(api)
    _, sales_token = await api.user(["SALES_MANAGER"])
    refused = await api.mutate(
        "exportSequences", {"sequenceIds": [seq["id"]]}, "document", token=sales_token
    )
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    assert refused["document"] is None
    _, manager_token = await api.user(["SEQUENCE_MANAGER"])
    allowed = await api.mutate(
        "exportSequences", {"sequenceIds": [seq["id"]]}, "document", token=manager_token
    )
    assert allowed["errors"] == [] and len(allowed["document"]["sequences"]) == 1
    # Another organization's sequence is not found.
    elsewhere = await other_api.mutate("exportSequences", {"sequenceIds": [seq["id"]]}, "document")
    assert [(e["code"], e["field"]) for e in elsewhere["errors"]] == [
        ("NOT_FOUND", ["sequenceIds", "0"])
    ]
    empty = await api.mutate("exportSequences", {"sequenceIds": []}, "document")
    assert [e["code"] for e in empty["errors"]] == ["REQUIRED"]
