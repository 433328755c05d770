"""Teams and members."""

from __future__ import annotations

from tests.conftest import Api

TEAM = "team { id name kind members { user { email } teamRole } }"


async def test_team_lifecycle(api: Api) -> None:
    team = await api.mutate("createTeam", {"name": "Key accounts", "kind": "ACCESS"}, TEAM)
    assert team["errors"] == []
    team_id = team["team"]["id"]
    _user_id, _ = await api.user(["SALESPERSON"], email="am@example.com")
    users = await api.ok('{ users(search: "am@") { nodes { id } } }')
    member = await api.mutate(
        "setTeamMember",
        {
            "teamId": team_id,
            "userId": users["users"]["nodes"][0]["id"],
            "teamRole": "Account manager",
        },
        TEAM,
    )
    assert member["team"]["members"] == [
        {"user": {"email": "am@example.com"}, "teamRole": "Account manager"}
    ]
    mine = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on User { teams { team { name } teamRole } } } }",
        {"id": users["users"]["nodes"][0]["id"]},
    )
    assert mine["node"]["teams"] == [
        {"team": {"name": "Key accounts"}, "teamRole": "Account manager"}
    ]
    removed = await api.mutate(
        "removeTeamMember", {"teamId": team_id, "userId": users["users"]["nodes"][0]["id"]}, TEAM
    )
    assert removed["team"]["members"] == []
    renamed = await api.mutate("updateTeam", {"teamId": team_id, "name": "KAM"}, TEAM)
    assert renamed["team"]["name"] == "KAM"
    listed = await api.ok("{ teams(kind: ACCESS) { nodes { name } } }")
    assert listed["teams"]["nodes"] == [{"name": "KAM"}]
    deleted = await api.mutate("deleteTeam", {"teamId": team_id}, "deletedTeamId")
    assert deleted["deletedTeamId"] == team_id
    assert (await api.ok("{ teams { totalCount } }"))["teams"]["totalCount"] == 0


async def test_duplicate_team_name(api: Api) -> None:
    await api.mutate("createTeam", {"name": "North", "kind": "OWNER"}, "team { id }")
    again = await api.mutate("createTeam", {"name": "North", "kind": "ACCESS"}, "team { id }")
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("DUPLICATE", ["name"])]


async def test_member_from_another_organization(api: Api, other_api: Api) -> None:
    team = await api.mutate("createTeam", {"name": "T", "kind": "OWNER"}, "team { id }")
    stranger = await other_api.ok("{ viewer { user { id } } }")
    payload = await api.mutate(
        "setTeamMember",
        {"teamId": team["team"]["id"], "userId": stranger["viewer"]["user"]["id"]},
        TEAM,
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["userId"])]
    members = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Team { members { user { id } } } } }",
        {"id": team["team"]["id"]},
    )
    assert members["node"]["members"] == []
