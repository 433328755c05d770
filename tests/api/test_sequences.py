"""Sequence authoring and lifecycle through GraphQL: the seed's walk-through and each invariant."""

from __future__ import annotations

import asyncio

from tests.api.sequences_helpers import EMAIL, SEQ, TASK, add, create, simple_active, start_id
from tests.conftest import Api


async def test_seed_walkthrough(api: Api) -> None:
    """Create blank, design, save, assign (refused while active), activate, find in the grid."""
    seq = await create(
        api, "Nordic webinar follow-up", description="Følg opp deltakere etter webinaret"
    )
    assert [s["type"] for s in seq["steps"]] == ["core.start"]
    assert seq["validation"]["canActivate"] is False
    assert seq["validation"]["problems"][0]["code"] == "NO_ACTIVITY"

    email = (await add(api, seq, start_id(seq), "email.manual", EMAIL, name="Intro email"))["step"]
    wait = (await add(api, seq, email["id"], "core.wait", {"days": 2}))["step"]
    cond = (await add(api, seq, wait["id"], "email.condition", {"events": ["OPENED"], "days": 3}))[
        "step"
    ]
    call = (
        await add(
            api, seq, cond["id"], "call.phone", {"script": "Ask about the demo"}, branch="YES"
        )
    )["step"]
    await add(api, seq, call["id"], "commands.update_field", {"field": "qualified", "value": True})
    payload = await add(
        api, seq, cond["id"], "linkedin.connect", {"message": "Glad you joined!"}, branch="NO"
    )
    steps = payload["sequence"]["steps"]
    assert [s["type"] for s in steps] == [
        "core.start",
        "email.manual",
        "core.wait",
        "email.condition",
        "call.phone",
        "commands.update_field",
        "linkedin.connect",
    ]
    assert {s["type"]: s["branch"] for s in steps}["linkedin.connect"] == "NO"
    assert payload["sequence"]["validation"] == {"canActivate": True, "problems": []}

    team = await api.mutate(
        "createTeam", {"name": "Webinar squad", "kind": "ACCESS"}, "team { id }"
    )
    assert team["errors"] == []
    assignment = {
        "sequenceId": seq["id"],
        "assignTo": "ACCESS_TEAM",
        "memberCondition": {"teamRoles": ["Account manager"]},
    }
    activated = await api.mutate(
        "activateSequence", {"sequenceId": seq["id"]}, "sequence { status }"
    )
    assert activated == {"errors": [], "sequence": {"status": "ACTIVE"}}
    refused = await api.mutate("setSequenceAssignment", assignment, "sequence { id }")
    assert [e["code"] for e in refused["errors"]] == ["SEQUENCE_ACTIVE"]
    await api.mutate("deactivateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    accepted = await api.mutate(
        "setSequenceAssignment",
        assignment,
        "sequence { assignment { assignTo memberCondition { teamRoles } } }",
    )
    assert accepted["errors"] == []
    assert accepted["sequence"]["assignment"] == {
        "assignTo": "ACCESS_TEAM",
        "memberCondition": {"teamRoles": ["Account manager"]},
    }
    again = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    assert again["sequence"]["status"] == "ACTIVE"

    grid = await api.ok(
        '{ sequences(search: "FØLG OPP", filter: {status: ACTIVE}) { totalCount nodes { name status stepCount } } }'
    )
    assert grid["sequences"]["nodes"] == [
        {"name": "Nordic webinar follow-up", "status": "ACTIVE", "stepCount": 6}
    ]
    by_step_name = await api.ok('{ sequences(search: "Intro email") { totalCount } }')
    assert by_step_name["sequences"]["totalCount"] == 0
    log = await api.ok(
        "query($id: ID!) { sequence(id: $id) { auditLog(first: 50) { nodes { action version actor { email } } } } }",
        {"id": seq["id"]},
    )
    actions = [e["action"] for e in log["sequence"]["auditLog"]["nodes"]]
    assert (
        actions[0] == "sequence.activated"
        and "sequence.assignment_set" in actions
        and actions[-1] == "sequence.created"
    )


async def test_name_and_description_rules(api: Api) -> None:
    for name, code in (("   ", "REQUIRED"), ("x" * 161, "TOO_LONG")):
        payload = await api.mutate("createSequence", {"name": name}, "sequence { id }")
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, ["name"])]
    payload = await api.mutate(
        "createSequence", {"name": "ok", "description": "d" * 2001}, "sequence { id }"
    )
    assert payload["errors"][0]["code"] == "TOO_LONG"
    payload = await api.mutate(
        "createSequence", {"name": "ok", "recordType": "spaceship"}, "sequence { id }"
    )
    assert payload["errors"][0]["code"] == "UNKNOWN_RECORD_TYPE"
    seq = await create(api, "  Trimmed  ", recordType="contact")
    assert seq["name"] == "Trimmed"
    assert (await api.ok("{ sequences { totalCount } }"))["sequences"]["totalCount"] == 1


async def test_activation_invariants(api: Api) -> None:
    seq = await create(api, "Broken")
    start = start_id(seq)
    refused = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    assert [e["code"] for e in refused["errors"]] == ["NO_ACTIVITY"]

    task = (await add(api, seq, start, "core.task", TASK))["step"]
    wait = (await add(api, seq, task["id"], "core.wait", {"days": 1}))["step"]
    refused = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    assert [(e["code"], e["stepId"]) for e in refused["errors"]] == [("ENDS_WITH_WAIT", wait["id"])]

    bad = (await add(api, seq, wait["id"], "core.task", {"subject": ""}))["step"]
    cond = (await add(api, seq, bad["id"], "email.condition", {"events": [], "days": 1}))["step"]
    await add(api, seq, cond["id"], "core.task", TASK, branch="YES")
    refused = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    codes = {(e["code"], e["stepId"]) for e in refused["errors"]}
    assert ("INVALID_CONFIG", bad["id"]) in codes
    assert ("NOTHING_TO_TEST", cond["id"]) in codes
    assert ("CONDITION_WRONG_ACTIVITY", cond["id"]) in codes
    after = await api.ok(
        "query($id: ID!) { sequence(id: $id) { status steps { key problems { code field } } } }",
        {"id": seq["id"]},
    )
    assert after["sequence"]["status"] == "INACTIVE"
    problems = {s["key"]: s["problems"] for s in after["sequence"]["steps"]}
    assert problems[bad["key"]][0]["field"] == ["subject"]


async def test_unknown_step_type(api: Api) -> None:
    seq = await create(api)
    payload = await api.mutate(
        "addStep",
        {"sequenceId": seq["id"], "afterStepId": start_id(seq), "type": "fax.send"},
        "step { id }",
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("UNKNOWN_STEP_TYPE", ["type"])]
    # A stored step whose plugin is gone (set through the whole-tree save of an import, say) is reported per step.
    steps = [
        {"key": "s", "type": "core.start"},
        {"key": "t", "type": "core.task", "config": TASK, "parentKey": "s", "branch": "NEXT"},
    ]
    saved = await api.mutate("setSequenceSteps", {"sequenceId": seq["id"], "steps": steps}, SEQ)
    assert saved["errors"] == []
    # Uninstall simulation: a type the registry lacks stays visible with UNKNOWN_STEP_TYPE.
    from sqlalchemy import update

    from sekvens.storage.tables import SequenceStep

    async with api.db.session(write=True) as session, session.begin():
        await session.execute(
            update(SequenceStep)
            .where(SequenceStep.key == "t", SequenceStep.type == "core.task")
            .values(type="sms.gone")
        )
    data = await api.ok(
        "query($id: ID!) { sequence(id: $id) { steps { key problems { code message } } validation { canActivate } } }",
        {"id": seq["id"]},
    )
    gone = next(s for s in data["sequence"]["steps"] if s["key"] == "t")
    assert (
        gone["problems"][0]["code"] == "UNKNOWN_STEP_TYPE"
        and "sms.gone" in gone["problems"][0]["message"]
    )
    assert data["sequence"]["validation"]["canActivate"] is False


async def test_remove_and_move_steps(api: Api) -> None:
    seq = await create(api)
    email = (await add(api, seq, start_id(seq), "email.manual", EMAIL))["step"]
    cond = (await add(api, seq, email["id"], "email.condition", {"events": ["REPLIED"]}))["step"]
    yes = (await add(api, seq, cond["id"], "core.task", {"subject": "yes"}, branch="YES"))["step"]
    no = (await add(api, seq, cond["id"], "core.task", {"subject": "no"}, branch="NO"))["step"]
    blocked = await api.mutate("removeStep", {"stepId": email["id"]}, "removedStepKeys")
    assert [e["code"] for e in blocked["errors"]] == ["STEP_HAS_DEPENDENTS"]
    need_branch = await api.mutate("removeStep", {"stepId": cond["id"]}, "removedStepKeys")
    assert [e["code"] for e in need_branch["errors"]] == ["KEEP_BRANCH_REQUIRED"]
    removed = await api.mutate(
        "removeStep", {"stepId": cond["id"], "keepBranch": "NO"}, f"removedStepKeys {SEQ}"
    )
    assert sorted(removed["removedStepKeys"]) == sorted([cond["key"], yes["key"]])
    assert [s["key"] for s in removed["sequence"]["steps"]][1:] == [email["key"], no["key"]]
    moved = await api.mutate("moveStep", {"stepId": no["id"], "afterStepId": start_id(seq)}, SEQ)
    assert [s["key"] for s in moved["sequence"]["steps"]][1:] == [no["key"], email["key"]]
    start = await api.mutate("removeStep", {"stepId": start_id(seq)}, "removedStepKeys")
    assert [e["code"] for e in start["errors"]] == ["START_STEP"]
    no_branch = await api.mutate(
        "addStep",
        {
            "sequenceId": seq["id"],
            "afterStepId": email["id"],
            "branch": "YES",
            "type": "core.task",
            "config": TASK,
        },
        "step { id }",
    )
    assert [e["code"] for e in no_branch["errors"]] == ["BRANCH_NOT_AVAILABLE"]


async def test_new_condition_takes_old_follower_under_yes(api: Api) -> None:
    seq = await create(api)
    email = (await add(api, seq, start_id(seq), "email.manual", EMAIL))["step"]
    task = (await add(api, seq, email["id"], "core.task", TASK))["step"]
    payload = await add(api, seq, email["id"], "email.condition", {"events": ["OPENED"]})
    placed = {s["key"]: (s["parent"] or {}).get("key") for s in payload["sequence"]["steps"]}
    branch = {s["key"]: s["branch"] for s in payload["sequence"]["steps"]}
    assert placed[task["key"]] == payload["step"]["key"] and branch[task["key"]] == "YES"


async def test_active_sequence_is_read_only_until_revision(api: Api) -> None:
    seq = await simple_active(api)
    edit = await api.mutate(
        "updateSequence", {"sequenceId": seq["id"], "name": "New"}, "sequence { name }"
    )
    assert [e["code"] for e in edit["errors"]] == ["SEQUENCE_ACTIVE"]
    step = await add_refused(api, seq)
    assert step == ["SEQUENCE_ACTIVE"]
    options = await api.mutate(
        "setSequenceOptions", {"sequenceId": seq["id"], "exitOnReply": True}, "sequence { id }"
    )
    assert [e["code"] for e in options["errors"]] == ["SEQUENCE_ACTIVE"]

    rev = await api.mutate("createSequenceRevision", {"sequenceId": seq["id"]}, f"{SEQ}")
    assert rev["errors"] == []
    twice = await api.mutate("createSequenceRevision", {"sequenceId": seq["id"]}, "sequence { id }")
    assert [e["code"] for e in twice["errors"]] == ["DRAFT_EXISTS"]
    steps = rev["sequence"]["steps"]
    await add(api, rev["sequence"], steps[-1]["id"], "core.task", {"subject": "Second"})
    renamed = await api.mutate(
        "updateSequence",
        {"sequenceId": seq["id"], "name": "Simple v2"},
        "sequence { name draft { name } }",
    )
    assert renamed["sequence"] == {"name": "Simple", "draft": {"name": "Simple v2"}}
    running = await api.ok(
        "query($id: ID!) { sequence(id: $id) { status currentVersion { number steps { type } } draft { number steps { type } } } }",
        {"id": seq["id"]},
    )
    assert running["sequence"]["currentVersion"]["number"] == 1
    assert len(running["sequence"]["currentVersion"]["steps"]) == 2
    assert (
        running["sequence"]["draft"]["number"] == 2
        and len(running["sequence"]["draft"]["steps"]) == 3
    )
    no_note = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert [e["code"] for e in no_note["errors"]] == ["CHANGE_DESCRIPTION_REQUIRED"]
    done = await api.mutate(
        "activateSequence",
        {"sequenceId": seq["id"], "changeDescription": "Second task"},
        "sequence { status currentVersion { number changeDescription } draft { number } versions { number status } }",
    )
    assert done["sequence"] == {
        "status": "ACTIVE",
        "currentVersion": {"number": 2, "changeDescription": "Second task"},
        "draft": None,
        "versions": [{"number": 2, "status": "ACTIVE"}, {"number": 1, "status": "RETIRED"}],
    }


async def add_refused(api: Api, seq: dict) -> list[str]:
    payload = await api.mutate(
        "addStep",
        {
            "sequenceId": seq["id"],
            "afterStepId": start_id(seq),
            "type": "core.task",
            "config": TASK,
        },
        "step { id }",
    )
    return [e["code"] for e in payload["errors"]]


async def test_edit_after_deactivation_makes_a_new_version(api: Api) -> None:
    seq = await simple_active(api)
    await api.mutate("deactivateSequence", {"sequenceId": seq["id"]}, "disconnectedCount")
    assert await add_refused(api, seq) == []
    data = await api.ok(
        "query($id: ID!) { sequence(id: $id) { versions { number status } } }", {"id": seq["id"]}
    )
    assert data["sequence"]["versions"] == [
        {"number": 2, "status": "DRAFT"},
        {"number": 1, "status": "ACTIVE"},
    ]
    again = await api.mutate(
        "activateSequence", {"sequenceId": seq["id"]}, "sequence { versions { number status } }"
    )
    assert again["sequence"]["versions"] == [
        {"number": 2, "status": "ACTIVE"},
        {"number": 1, "status": "RETIRED"},
    ]


async def test_active_limit(api: Api) -> None:
    await api.mutate("updateOrganizationSettings", {"maxActiveSequences": 2}, "organization { id }")
    await simple_active(api, "one")
    await simple_active(api, "two")
    third = await simple_active(api, "three", activate=False)
    refused = await api.mutate(
        "activateSequence", {"sequenceId": third["id"]}, "sequence { status }"
    )
    assert [e["code"] for e in refused["errors"]] == ["ACTIVE_LIMIT_REACHED"]
    assert (await api.ok("{ sequences(filter: {status: ACTIVE}) { totalCount } }"))["sequences"][
        "totalCount"
    ] == 2


async def test_active_limit_holds_under_concurrent_activations(api: Api) -> None:
    await api.mutate("updateOrganizationSettings", {"maxActiveSequences": 3}, "organization { id }")
    ready = [await simple_active(api, f"c{i}", activate=False) for i in range(8)]
    results = await asyncio.gather(
        *(
            api.mutate("activateSequence", {"sequenceId": s["id"]}, "sequence { status }")
            for s in ready
        )
    )
    ok = [r for r in results if not r["errors"]]
    assert len(ok) == 3
    assert all(r["errors"][0]["code"] == "ACTIVE_LIMIT_REACHED" for r in results if r["errors"])
    assert (await api.ok("{ sequences(filter: {status: ACTIVE}) { totalCount } }"))["sequences"][
        "totalCount"
    ] == 3


async def test_clone_and_delete(api: Api) -> None:
    seq = await simple_active(api, "Original")
    clone = await api.mutate("cloneSequence", {"sequenceId": seq["id"], "name": "Copy"}, SEQ)
    assert clone["sequence"]["status"] == "INACTIVE" and clone["sequence"]["name"] == "Copy"
    assert [s["type"] for s in clone["sequence"]["steps"]] == ["core.start", "core.task"]
    assert clone["sequence"]["key"] != seq["key"]
    refused = await api.mutate("deleteSequence", {"sequenceId": seq["id"]}, "deletedSequenceId")
    assert [e["code"] for e in refused["errors"]] == ["SEQUENCE_ACTIVE"]
    deleted = await api.mutate(
        "deleteSequence", {"sequenceId": seq["id"], "force": True}, "deletedSequenceId"
    )
    assert deleted["deletedSequenceId"] == seq["id"]
    gone = await api.ok("query($id: ID!) { sequence(id: $id) { id } }", {"id": seq["id"]})
    assert gone["sequence"] is None
    plain = await api.mutate(
        "deleteSequence", {"sequenceId": clone["sequence"]["id"]}, "deletedSequenceId"
    )
    assert plain["errors"] == []


async def test_assignment_rules(api: Api) -> None:
    seq = await create(api)
    field = await api.mutate(
        "setSequenceAssignment",
        {"sequenceId": seq["id"], "assignTo": "RECORD_FIELD", "fieldName": "email"},
        "sequence { id }",
    )
    assert [(e["code"], e["field"]) for e in field["errors"]] == [
        ("WRONG_FIELD_TYPE", ["fieldName"])
    ]
    ok = await api.mutate(
        "setSequenceAssignment",
        {"sequenceId": seq["id"], "assignTo": "RECORD_FIELD", "fieldName": "account_manager"},
        "sequence { assignment { assignTo fieldName } }",
    )
    assert ok["sequence"]["assignment"] == {
        "assignTo": "RECORD_FIELD",
        "fieldName": "account_manager",
    }
    cond = await api.mutate(
        "setSequenceAssignment",
        {
            "sequenceId": seq["id"],
            "assignTo": "RECORD_OWNER",
            "memberCondition": {"teamRoles": ["x"]},
        },
        "sequence { id }",
    )
    assert cond["errors"][0]["field"] == ["memberCondition"]


async def test_permissions(api: Api) -> None:
    _, seller_token = await api.user(["SALESPERSON"])
    seller = api.as_token(seller_token)
    org_seq = await api.mutate(
        "createSequence", {"name": "Team"}, "sequence { id }", token=seller_token
    )
    assert org_seq["errors"][0]["code"] == "FORBIDDEN"
    mine = await create(seller, "Mine", isPersonal=True)
    await add(seller, mine, start_id(mine), "core.task", TASK)
    activated = await seller.mutate(
        "activateSequence", {"sequenceId": mine["id"]}, "sequence { status }"
    )
    assert activated["sequence"]["status"] == "ACTIVE"
    _, other_token = await api.user(["SALESPERSON"])
    other = api.as_token(other_token)
    assert (
        await other.ok(
            "query($id: ID!) { sequence(id: $id) { name isPersonal } }", {"id": mine["id"]}
        )
    )["sequence"] == {"name": "Mine", "isPersonal": True}
    edit = await other.mutate("deactivateSequence", {"sequenceId": mine["id"]}, "sequence { id }")
    assert edit["errors"][0]["code"] == "FORBIDDEN"
    copy = await other.mutate(
        "cloneSequence", {"sequenceId": mine["id"]}, "sequence { isPersonal }"
    )
    assert copy["sequence"] == {"isPersonal": True}
    _, manager_token = await api.user(["SALES_MANAGER"])
    personal_by_manager = await api.mutate(
        "deactivateSequence", {"sequenceId": mine["id"]}, "sequence { id }", token=manager_token
    )
    assert personal_by_manager["errors"][0]["code"] == "FORBIDDEN"
    by_admin = await api.mutate(
        "deactivateSequence", {"sequenceId": mine["id"]}, "sequence { status }"
    )
    assert by_admin["sequence"]["status"] == "INACTIVE"


async def test_feature_disabled(api: Api) -> None:
    await api.mutate(
        "updateOrganizationSettings", {"sequencesEnabled": False}, "organization { id }"
    )
    payload = await api.mutate("createSequence", {"name": "x"}, "sequence { id }")
    assert payload["errors"][0]["code"] == "FEATURE_DISABLED"
    assert "administrator" in payload["errors"][0]["message"]
    body = await api.gql("{ sequences { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "FEATURE_DISABLED"


async def test_other_organization_cannot_touch(api: Api, other_api: Api) -> None:
    seq = await simple_active(api)
    assert (await other_api.ok("query($id: ID!) { node(id: $id) { id } }", {"id": seq["id"]}))[
        "node"
    ] is None
    assert (
        await other_api.ok(
            "query($id: ID!) { node(id: $id) { id } }", {"id": seq["steps"][0]["id"]}
        )
    )["node"] is None
    payload = await other_api.mutate(
        "deactivateSequence", {"sequenceId": seq["id"]}, "sequence { id }"
    )
    assert payload["errors"][0]["code"] == "NOT_FOUND"
    payload = await other_api.mutate(
        "updateStep", {"stepId": seq["steps"][0]["id"], "name": "x"}, "step { id }"
    )
    assert payload["errors"][0]["code"] == "NOT_FOUND"
    assert (await other_api.ok("{ sequences { totalCount } }"))["sequences"]["totalCount"] == 0
