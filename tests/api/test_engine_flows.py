"""Engine flows: skips, exit on reply, hand-over, pause, owner change, teams, commands, quotas."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.sequences_helpers import EMAIL, add, create, start_id
from tests.api.test_engine import AUTO, connect, connections, leads, seller
from tests.conftest import Api, MovableClock

TASK = {"subject": "Task"}


async def activate(api: Api, seq: dict[str, Any]) -> None:
    payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    assert payload["errors"] == [], payload["errors"]


async def up_next(api: Api, token: str) -> list[dict[str, Any]]:
    data = await api.as_token(token).ok(
        "{ upNext(first: 50) { nodes { id subject kind stepKey record { externalId } assignees { email } } } }"
    )
    return data["upNext"]["nodes"]


async def test_skipped_email_takes_the_no_branch(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "s1@example.com")
    seq = await create(api, "Skip")
    email = (await add(api, seq, start_id(seq), "email.manual", EMAIL))["step"]
    cond = (
        await add(api, seq, email["id"], "email.condition", {"events": ["REPLIED"], "days": 3})
    )["step"]
    await add(api, seq, cond["id"], "core.task", {"subject": "Replied"}, branch="YES")
    await add(api, seq, cond["id"], "core.task", {"subject": "No reply"}, branch="NO")
    await activate(api, seq)
    await connect(api, seq, await leads(api, owner_id, 1))
    await engine.run_until_idle()
    [activity] = await up_next(api, token)
    assert activity["kind"] == "EMAIL" and activity["subject"] == "Hello Ann0"
    skipped = await api.as_token(token).mutate(
        "skipActivity", {"activityId": activity["id"]}, "activity { status }"
    )
    assert skipped["activity"]["status"] == "SKIPPED"
    await engine.run_until_idle()
    assert [a["subject"] for a in await up_next(api, token)] == ["No reply"]


async def test_exit_on_reply(api: Api, engine: Any, clock: MovableClock) -> None:
    owner_id, _ = await seller(api, "s2@example.com")
    seq = await create(api, "Exit")
    email = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
    wait = (await add(api, seq, email["id"], "core.wait", {"days": 2}))["step"]
    await add(api, seq, wait["id"], "core.task", TASK)
    await api.mutate(
        "setSequenceOptions", {"sequenceId": seq["id"], "exitOnReply": True}, "sequence { id }"
    )
    await activate(api, seq)
    await connect(api, seq, await leads(api, owner_id, 2))
    await engine.run_until_idle()
    outbox = await api.ok("{ outbox { nodes { to messageId } } }")
    message = next(
        m["messageId"] for m in outbox["outbox"]["nodes"] if m["to"] == "ann0@example.com"
    )
    await api.mutate(
        "recordEngagementEvents",
        {
            "events": [
                {
                    "eventId": "r1",
                    "kind": "EMAIL_REPLIED",
                    "messageId": message,
                    "occurredAt": engine.clock.now().isoformat(),
                }
            ]
        },
        "results { recorded }",
    )
    state = await connections(api, seq)
    assert (state["L0"]["status"], state["L0"]["reason"]) == ("DISCONNECTED", "EXIT_CRITERION_MET")
    assert state["L1"]["status"] == "CONNECTED"


async def test_advance_to_another_sequence(api: Api, engine: Any) -> None:
    owner_id, token = await seller(api, "s3@example.com")
    target = await create(api, "Nurture")
    await add(api, target, start_id(target), "core.task", {"subject": "Nurture call"})
    await activate(api, target)
    seq = await create(api, "Hand over")
    task = (await add(api, seq, start_id(seq), "core.task", {"subject": "First"}))["step"]
    await add(api, seq, task["id"], "commands.advance_to_sequence", {"sequence": target["key"]})
    await activate(api, seq)
    await connect(api, seq, await leads(api, owner_id, 1))
    await engine.run_until_idle()
    [first] = await up_next(api, token)
    await api.as_token(token).mutate(
        "completeActivity", {"activityId": first["id"]}, "activity { id }"
    )
    await engine.run_until_idle()
    state = await connections(api, seq)
    assert (state["L0"]["status"], state["L0"]["reason"]) == (
        "DISCONNECTED",
        "ADVANCED_TO_OTHER_SEQUENCE",
    )
    assert (await connections(api, target))["L0"]["status"] == "CONNECTED"
    assert [a["subject"] for a in await up_next(api, token)] == ["Nurture call"]


async def test_pause_and_resume(api: Api, engine: Any, clock: MovableClock) -> None:
    owner_id, token = await seller(api, "s4@example.com")
    seq = await create(api, "Pause")
    wait = (await add(api, seq, start_id(seq), "core.wait", {"hours": 1}))["step"]
    await add(api, seq, wait["id"], "core.task", TASK)
    await api.mutate(
        "setSequenceOptions",
        {"sequenceId": seq["id"], "skipNonWorkingTime": False},
        "sequence { id }",
    )
    await activate(api, seq)
    [result] = await connect(api, seq, await leads(api, owner_id, 1))
    conn_id = result["connection"]["id"]
    await engine.run_until_idle()
    resume_at = (engine.clock.now() + timedelta(days=3)).isoformat()
    paused = await api.mutate(
        "pauseConnection",
        {"connectionId": conn_id, "resumeAt": resume_at},
        "connection { status resumeAt }",
    )
    assert paused["connection"]["status"] == "PAUSED"
    clock.advance(timedelta(hours=2))
    await engine.run_until_idle()
    assert await up_next(api, token) == []
    clock.advance(timedelta(days=3))
    await engine.run_until_idle()
    assert [a["subject"] for a in await up_next(api, token)] == ["Task"]
    # Paused by hand and resumed by hand.
    again = await api.mutate("pauseConnection", {"connectionId": conn_id}, "connection { status }")
    assert again["connection"]["status"] == "PAUSED"
    resumed = await api.mutate(
        "resumeConnection", {"connectionId": conn_id}, "connection { status }"
    )
    assert resumed["connection"]["status"] == "CONNECTED"


async def test_owner_change_keeps_open_activity(api: Api, engine: Any) -> None:
    first_id, first_token = await seller(api, "s5@example.com")
    second_id, second_token = await seller(api, "s6@example.com")
    seq = await create(api, "Owners")
    one = (await add(api, seq, start_id(seq), "core.task", {"subject": "One"}))["step"]
    await add(api, seq, one["id"], "core.task", {"subject": "Two"})
    await activate(api, seq)
    await connect(api, seq, await leads(api, first_id, 1))
    await engine.run_until_idle()
    await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "L0", "ownerUserId": second_id}]},
        "createdCount",
    )
    [open_one] = await up_next(api, first_token)
    assert open_one["subject"] == "One" and await up_next(api, second_token) == []
    await api.as_token(first_token).mutate(
        "completeActivity", {"activityId": open_one["id"]}, "activity { id }"
    )
    await engine.run_until_idle()
    assert await up_next(api, first_token) == []
    assert [a["subject"] for a in await up_next(api, second_token)] == ["Two"]


async def test_team_assignment_first_to_complete_closes(api: Api, engine: Any) -> None:
    a_id, a_token = await seller(api, "t1@example.com")
    b_id, b_token = await seller(api, "t2@example.com")
    _, c_token = await seller(api, "t3@example.com")
    team = await api.mutate("createTeam", {"name": "KAM", "kind": "ACCESS"}, "team { id }")
    team_id = team["team"]["id"]
    for user_id, role in ((a_id, "Account manager"), (b_id, "Account manager")):
        await api.mutate(
            "setTeamMember", {"teamId": team_id, "userId": user_id, "teamRole": role}, "team { id }"
        )
    seq = await create(api, "Team")
    await add(api, seq, start_id(seq), "core.task", TASK)
    await api.mutate(
        "setSequenceAssignment",
        {
            "sequenceId": seq["id"],
            "assignTo": "ACCESS_TEAM",
            "memberCondition": {"teamRoles": ["Account manager"]},
        },
        "sequence { id }",
    )
    await activate(api, seq)
    await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "T1", "accessTeamId": team_id}]},
        "createdCount",
    )
    no_team = await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "T2"}]},
        "results { record { id } }",
    )
    payload = await api.mutate(
        "connectSequence",
        {
            "sequenceId": seq["id"],
            "records": [
                {"recordType": "lead", "externalId": "T1"},
                {"id": no_team["results"][0]["record"]["id"]},
            ],
        },
        "results { errors { code } }",
    )
    assert [[e["code"] for e in r["errors"]] for r in payload["results"]] == [[], ["NO_ASSIGNEE"]]
    await engine.run_until_idle()
    [for_a], [for_b] = await up_next(api, a_token), await up_next(api, b_token)
    assert for_a["id"] == for_b["id"]
    assert sorted(x["email"] for x in for_a["assignees"]) == ["t1@example.com", "t2@example.com"]
    outsider = await api.as_token(c_token).mutate(
        "completeActivity", {"activityId": for_a["id"]}, "activity { id }"
    )
    assert outsider["errors"][0]["code"] == "FORBIDDEN"
    await api.as_token(b_token).mutate(
        "completeActivity", {"activityId": for_a["id"]}, "activity { status }"
    )
    assert await up_next(api, a_token) == []


async def test_update_field_command_and_record_deactivation(api: Api, engine: Any) -> None:
    owner_id, _ = await seller(api, "s7@example.com")
    seq = await create(api, "Commands")
    update = (
        await add(
            api, seq, start_id(seq), "commands.update_field", {"field": "rating", "value": "Hot"}
        )
    )["step"]
    await add(api, seq, update["id"], "core.task", TASK)
    await activate(api, seq)
    await connect(api, seq, await leads(api, owner_id, 2))
    await engine.run_until_idle()
    records = await api.ok(
        '{ records(filter: {recordType: "lead"}) { nodes { externalId fields } } }'
    )
    assert {r["externalId"]: r["fields"]["rating"] for r in records["records"]["nodes"]} == {
        "L0": "Hot",
        "L1": "Hot",
    }
    await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "lead", "externalId": "L1", "isActive": False}]},
        "createdCount",
    )
    state = await connections(api, seq)
    assert (state["L1"]["status"], state["L1"]["reason"]) == ("DISCONNECTED", "RECORD_DEACTIVATED")
    assert state["L0"]["status"] == "CONNECTED"
    deactivated = await api.mutate(
        "deactivateSequence", {"sequenceId": seq["id"]}, "disconnectedCount"
    )
    assert deactivated["disconnectedCount"] == 1
    state = await connections(api, seq)
    assert state["L0"]["reason"] == "PARENT_SEQUENCE_DEACTIVATED"


async def test_quota_and_connect_by_filter(api: Api, engine: Any) -> None:
    owner_id, _ = await seller(api, "s8@example.com")
    seq = await create(api, "Quota")
    await add(api, seq, start_id(seq), "core.task", TASK)
    await activate(api, seq)
    await leads(api, owner_id, 5)
    await api.mutate(
        "updateOrganizationSettings", {"monthlyConnectionQuota": 3}, "organization { id }"
    )
    payload = await api.mutate(
        "connectSequenceByFilter",
        {"sequenceId": seq["id"], "filter": {"recordType": "lead"}},
        "matchedCount connectedCount skipped { code count }",
    )
    assert payload["errors"] == []
    assert (payload["matchedCount"], payload["connectedCount"]) == (5, 3)
    assert payload["skipped"] == [{"code": "QUOTA_EXCEEDED", "count": 2}]
    data = await api.ok(
        "query($id: ID!) { sequence(id: $id) { activeConnections connections(first: 10) { totalCount } } }",
        {"id": seq["id"]},
    )
    assert data["sequence"]["activeConnections"] == 3


async def test_connect_by_filter_with_a_field_rule(api: Api, engine: Any) -> None:
    """Connecting by filter loads only the record columns it needs, and `fields` when the
    assignment rule reads a field: the same outcome as connecting the records by id."""
    owner_id, _ = await seller(api, "s10@example.com")
    _, manager_token = await seller(api, "manager10@example.com")
    ids = await leads(api, owner_id, 3)
    await api.mutate(
        "upsertRecords",
        {
            "records": [
                {
                    "recordType": "lead",
                    "externalId": f"L{i}",
                    "fields": {"account_manager": "manager10@example.com"},
                }
                for i in (0, 2)
            ]
        },
        "createdCount",
    )
    outcomes = []
    for how in ("filter", "ids"):
        seq = await create(api, f"Field rule by {how}")
        await add(api, seq, start_id(seq), "core.task", TASK)
        rule = await api.mutate(
            "setSequenceAssignment",
            {"sequenceId": seq["id"], "assignTo": "RECORD_FIELD", "fieldName": "account_manager"},
            "sequence { id }",
        )
        assert rule["errors"] == []
        await activate(api, seq)
        if how == "filter":
            payload = await api.mutate(
                "connectSequenceByFilter",
                {"sequenceId": seq["id"], "filter": {"recordType": "lead"}},
                "matchedCount connectedCount skipped { code count }",
            )
            assert payload["errors"] == []
            assert (payload["matchedCount"], payload["connectedCount"]) == (3, 2)
            assert payload["skipped"] == [{"code": "NO_ASSIGNEE", "count": 1}]
        else:
            await connect(api, seq, ids)
        outcomes.append({k: v["status"] for k, v in (await connections(api, seq)).items()})
    assert outcomes[0] == outcomes[1] == {"L0": "CONNECTED", "L2": "CONNECTED"}
    await engine.run_until_idle()
    tasks = await up_next(api, manager_token)
    assert sorted(t["record"]["externalId"] for t in tasks) == ["L0", "L0", "L2", "L2"]
