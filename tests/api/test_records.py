"""Record types and the bulk record upsert."""

from __future__ import annotations

from tests.conftest import Api

UPSERT = "results { index created record { id externalId name fields stage isActive ownerUser { email } ownerTeam { name } accessTeam { name } } errors { code field index } } createdCount updatedCount"


async def test_default_record_types(api: Api) -> None:
    data = await api.ok(
        "{ recordTypes { nodes { name stages isBuiltin fields { name type options } } } }"
    )
    types = {t["name"]: t for t in data["recordTypes"]["nodes"]}
    assert set(types) == {"account", "contact", "lead", "opportunity"}
    lead_fields = {f["name"]: f["type"] for f in types["lead"]["fields"]}
    assert lead_fields["email"] == "EMAIL"
    assert lead_fields["account_manager"] == "USER_LOOKUP"
    assert lead_fields["qualified"] == "BOOLEAN"
    assert types["lead"]["stages"] == ["Qualify", "Develop", "Propose", "Close"]


async def test_upsert_creates_then_updates(api: Api) -> None:
    await api.user(["SALESPERSON"], email="seller@example.com")
    first = await api.mutate(
        "upsertRecords",
        {
            "records": [
                {
                    "recordType": "lead",
                    "externalId": "CRM-1",
                    "name": "Ann",
                    "stage": "Qualify",
                    "fields": {
                        "first_name": "Ann",
                        "email": "ann@example.com",
                        "rating": "Hot",
                        "qualified": False,
                        "estimated_value": 1200.5,
                        "follow_up_date": "2026-12-01",
                        "account_manager": "Seller@Example.com",
                    },
                },
                {"recordType": "contact", "externalId": "CRM-1", "fields": {"first_name": "Bo"}},
            ]
        },
        UPSERT,
    )
    assert first["errors"] == []
    assert first["createdCount"] == 2 and first["updatedCount"] == 0
    ann = first["results"][0]["record"]
    assert ann["fields"]["account_manager"] == "seller@example.com"
    assert ann["ownerUser"]["email"].startswith("admin@")
    assert first["results"][1]["record"]["name"] == "CRM-1"
    second = await api.mutate(
        "upsertRecords",
        {
            "records": [
                {
                    "recordType": "lead",
                    "externalId": "CRM-1",
                    "stage": "Develop",
                    "isActive": False,
                    "fields": {"rating": "Cold"},
                }
            ]
        },
        UPSERT,
    )
    assert second["updatedCount"] == 1 and second["createdCount"] == 0
    record = second["results"][0]["record"]
    assert record["id"] == ann["id"]
    assert record["fields"]["rating"] == "Cold" and record["fields"]["first_name"] == "Ann"
    assert record["stage"] == "Develop" and record["isActive"] is False
    listed = await api.ok(
        '{ records(filter: {recordType: "lead", isActive: false}) { totalCount } }'
    )
    assert listed["records"]["totalCount"] == 1


async def test_bad_items_get_indexed_errors_and_are_not_written(api: Api, other_api: Api) -> None:
    stranger = await other_api.ok("{ viewer { user { id } } }")
    team = await api.mutate("createTeam", {"name": "Access", "kind": "ACCESS"}, "team { id }")
    payload = await api.mutate(
        "upsertRecords",
        {
            "records": [
                {"recordType": "lead", "externalId": "OK-1", "fields": {"first_name": "Fine"}},
                {"recordType": "lead", "externalId": "BAD-1", "fields": {"shoe_size": 44}},
                {
                    "recordType": "lead",
                    "externalId": "BAD-2",
                    "fields": {"qualified": "yes", "email": "nope"},
                },
                {
                    "recordType": "lead",
                    "externalId": "BAD-3",
                    "ownerUserId": stranger["viewer"]["user"]["id"],
                },
                {"recordType": "lead", "externalId": "BAD-4", "ownerTeamId": team["team"]["id"]},
                {
                    "recordType": "lead",
                    "externalId": "BAD-5",
                    "stage": "Dreaming",
                    "fields": {"rating": "Lukewarm"},
                },
                {"recordType": "spaceship", "externalId": "BAD-6"},
                {"recordType": "lead", "externalId": "OK-1"},
                {
                    "recordType": "lead",
                    "externalId": "BAD-7",
                    "fields": {"account_manager": "ghost@example.com"},
                },
                {"recordType": "lead", "externalId": " "},
            ]
        },
        UPSERT,
    )
    assert payload["errors"] == []
    by_index = {
        r["index"]: [(e["code"], tuple(e["field"])) for e in r["errors"]]
        for r in payload["results"]
    }
    assert by_index[0] == []
    assert by_index[1] == [("UNKNOWN_FIELD", ("fields", "shoe_size"))]
    assert sorted(by_index[2]) == [
        ("INVALID_VALUE", ("fields", "email")),
        ("WRONG_FIELD_TYPE", ("fields", "qualified")),
    ]
    assert by_index[3] == [("UNKNOWN_USER", ("ownerUserId",))]
    assert by_index[4] == [("WRONG_TEAM_KIND", ("ownerTeamId",))]
    assert sorted(by_index[5]) == [
        ("INVALID_VALUE", ("fields", "rating")),
        ("UNKNOWN_STAGE", ("stage",)),
    ]
    assert by_index[6] == [("UNKNOWN_RECORD_TYPE", ("recordType",))]
    assert by_index[7] == [("DUPLICATE", ("externalId",))]
    assert by_index[8] == [("UNKNOWN_USER", ("fields", "account_manager"))]
    assert by_index[9] == [("REQUIRED", ("externalId",))]
    assert all(e["index"] == r["index"] for r in payload["results"] for e in r["errors"])
    assert payload["createdCount"] == 1
    stored = await api.ok("{ records { nodes { externalId } } }")
    assert stored["records"]["nodes"] == [{"externalId": "OK-1"}]


async def test_reject_everything_writes_nothing(api: Api) -> None:
    payload = await api.mutate(
        "upsertRecords",
        {
            "errorPolicy": "REJECT_EVERYTHING",
            "records": [
                {"recordType": "lead", "externalId": "A"},
                {"recordType": "lead", "externalId": "B", "fields": {"nope": 1}},
            ],
        },
        UPSERT,
    )
    assert payload["createdCount"] == 0
    assert payload["results"][0]["record"] is None
    assert payload["results"][1]["errors"][0]["code"] == "UNKNOWN_FIELD"
    assert (await api.ok("{ records { totalCount } }"))["records"]["totalCount"] == 0


async def test_bulk_limit(api: Api) -> None:
    """Up to 1000 records are upserted in the request; more become a job (docs/jobs.md,
    tests/engine/test_record_sync.py), which cannot reject everything."""
    records = [{"recordType": "lead", "externalId": f"X{i}"} for i in range(1001)]
    payload = await api.mutate(
        "upsertRecords",
        {"records": records, "errorPolicy": "REJECT_EVERYTHING"},
        "createdCount job { id }",
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_VALUE", ["errorPolicy"])
    ]
    payload = await api.mutate("upsertRecords", {"records": records}, "createdCount job { id }")
    assert (payload["createdCount"], payload["job"] is not None) == (0, True)
    assert (await api.ok("{ records { totalCount } }"))["records"]["totalCount"] == 0
    await api.mutate("cancelJob", {"id": payload["job"]["id"]}, "job { status }")
    payload = await api.mutate(
        "upsertRecords", {"records": records[:1000]}, "createdCount job { id }"
    )
    assert (payload["createdCount"], payload["job"]) == (1000, None)


async def test_salesperson_may_not_push_records(api: Api) -> None:
    _, token = await api.user(["SALESPERSON"])
    payload = await api.as_token(token).mutate(
        "upsertRecords", {"records": [{"recordType": "lead", "externalId": "A"}]}, "createdCount"
    )
    assert payload["errors"][0]["code"] == "FORBIDDEN"


async def test_custom_record_type_and_fields(api: Api) -> None:
    created = await api.mutate(
        "createRecordType",
        {
            "name": "project",
            "displayName": "Project",
            "stages": ["Scoping", "Delivery"],
            "fields": [
                {"name": "budget", "type": "NUMBER"},
                {"name": "tier", "type": "OPTION_SET", "options": ["A", "B"]},
            ],
        },
        "recordType { id name fields { name type options } stages }",
    )
    assert created["errors"] == []
    type_id = created["recordType"]["id"]
    bad = await api.mutate(
        "addRecordField",
        {"recordTypeId": type_id, "field": {"name": "Budget!", "type": "TEXT"}},
        "recordType { id }",
    )
    assert bad["errors"][0]["field"] == ["field", "name"]
    dup = await api.mutate(
        "addRecordField",
        {"recordTypeId": type_id, "field": {"name": "budget", "type": "TEXT"}},
        "recordType { id }",
    )
    assert dup["errors"][0]["code"] == "DUPLICATE"
    added = await api.mutate(
        "addRecordField",
        {"recordTypeId": type_id, "field": {"name": "go_live", "type": "DATE"}},
        "recordType { fields { name } }",
    )
    assert [f["name"] for f in added["recordType"]["fields"]] == ["budget", "tier", "go_live"]
    shrink = await api.mutate(
        "updateRecordField",
        {"recordTypeId": type_id, "name": "tier", "options": ["A"]},
        "recordType { id }",
    )
    assert shrink["errors"][0]["code"] == "IN_USE"
    grow = await api.mutate(
        "updateRecordField",
        {"recordTypeId": type_id, "name": "tier", "options": ["A", "B", "C"]},
        "recordType { fields { name options } }",
    )
    assert grow["recordType"]["fields"][1]["options"] == ["A", "B", "C"]
    upsert = await api.mutate(
        "upsertRecords",
        {
            "records": [
                {
                    "recordType": "project",
                    "externalId": "P1",
                    "stage": "Delivery",
                    "fields": {"budget": 10, "tier": "C", "go_live": "2027-01-31"},
                }
            ]
        },
        "createdCount results { errors { code } }",
    )
    assert upsert["createdCount"] == 1
    again = await api.mutate(
        "createRecordType", {"name": "project", "displayName": "P"}, "recordType { id }"
    )
    assert again["errors"][0]["code"] == "DUPLICATE"


async def test_organization_settings(api: Api) -> None:
    payload = await api.mutate(
        "updateOrganizationSettings",
        {
            "maxActiveSequences": 10,
            "holidays": ["2026-12-25", "2026-12-24"],
            "callOutcomes": ["Connected", "No answer"],
            "monthlyConnectionQuota": 1500,
            "defaultTimeZone": "Europe/Oslo",
        },
        "organization { maxActiveSequences holidays callOutcomes monthlyConnectionQuota defaultTimeZone }",
    )
    assert payload["organization"] == {
        "maxActiveSequences": 10,
        "holidays": ["2026-12-24", "2026-12-25"],
        "callOutcomes": ["Connected", "No answer"],
        "monthlyConnectionQuota": 1500,
        "defaultTimeZone": "Europe/Oslo",
    }
    bad = await api.mutate(
        "updateOrganizationSettings",
        {"maxActiveSequences": 0, "defaultTimeZone": "Nowhere", "callOutcomes": []},
        "organization { id }",
    )
    assert sorted(e["field"][0] for e in bad["errors"]) == [
        "callOutcomes",
        "defaultTimeZone",
        "maxActiveSequences",
    ]
    still = await api.ok("{ organization { maxActiveSequences } }")
    assert still["organization"]["maxActiveSequences"] == 10
