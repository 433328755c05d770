"""importSequences: matching by key, conflicts, revisions, DRY_RUN, all or nothing, roles."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select

from sekvens.storage.tables import AuditEntry, Sequence
from tests.api.sequences_helpers import simple_active
from tests.api.test_query_counts import count_statements
from tests.conftest import Api
from tests.transfer.helpers import (
    build_source,
    codes,
    export,
    import_,
    prepare_target,
    row_counts,
)


def actions(payload: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(s["name"], s["action"], s["unchanged"]) for s in payload["report"]["sequences"]]


async def sequence_names(api: Api) -> list[str]:
    data = await api.ok("{ sequences(orderBy: [{field: NAME}]) { nodes { name } } }")
    return [n["name"] for n in data["sequences"]["nodes"]]


async def test_importing_twice_creates_no_duplicates(api: Api, other_api: Api) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    await prepare_target(other_api)
    first = await import_(other_api, document, activate=True)
    assert first["errors"] == []
    again = await import_(other_api, document, activate=True)
    assert again["errors"] == [] and again["report"]["applied"] is True
    assert actions(again) == [
        ("Nurture", "SKIP", True),
        ("Webinar follow-up", "SKIP", True),
    ]
    assert again["report"]["createdTags"] == []
    counts = await row_counts(other_api.db)
    skipped = await import_(other_api, document, on_conflict="SKIP")
    assert actions(skipped) == [("Nurture", "SKIP", False), ("Webinar follow-up", "SKIP", False)]
    assert await row_counts(other_api.db) == counts
    assert await sequence_names(other_api) == ["Nurture", "Webinar follow-up"]
    tags = await other_api.ok("{ tags { path } }")
    assert sorted(t["path"] for t in tags["tags"]) == [
        "Campaigns",
        "Campaigns/Nurture",
        "Region",
        "Region/EMEA",
        "Region/EMEA/Nordics",
    ]


async def test_dry_run_changes_nothing_and_reports_what_apply_does(
    api: Api, other_api: Api
) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    await prepare_target(other_api)
    before = await row_counts(other_api.db)
    dry = await import_(other_api, document, mode="DRY_RUN", activate=True)
    assert dry["errors"] == []
    assert await row_counts(other_api.db) == before
    assert dry["report"]["applied"] is False
    assert all(s["sequence"] is None for s in dry["report"]["sequences"])
    applied = await import_(other_api, document, mode="APPLY", activate=True)
    assert applied["report"]["applied"] is True

    def comparable(report: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(report)
        out.pop("mode")
        out.pop("applied")
        for s in out["sequences"]:
            s.pop("sequence")
        return out

    assert comparable(dry["report"]) == comparable(applied["report"])
    assert await row_counts(other_api.db) != before


async def test_update_of_an_active_sequence_makes_a_revision(api: Api, other_api: Api) -> None:
    seq = await simple_active(api, "Outreach")
    document = await export(api, [seq["id"]])
    assert (await import_(other_api, document, activate=True))["errors"] == []
    changed = copy.deepcopy(document)
    entry = changed["sequences"][0]
    entry["name"] = "Outreach v2"
    entry["steps"][1]["config"]["subject"] = "Call them"

    kept = await import_(other_api, changed)  # no activate: the revision waits for a person
    assert kept["errors"] == []
    [result] = kept["report"]["sequences"]
    assert (result["action"], result["activated"]) == ("UPDATE", False)
    assert result["sequence"]["status"] == "ACTIVE"
    assert result["sequence"]["draft"] == {"number": 2}
    assert result["sequence"]["currentVersion"] == {"number": 1}

    activated = await import_(other_api, changed, activate=True)
    [result] = activated["report"]["sequences"]
    assert (result["action"], result["activated"]) == ("UPDATE", True)
    assert result["sequence"]["draft"] is None
    assert result["sequence"]["currentVersion"] == {"number": 2}
    assert result["sequence"]["name"] == "Outreach v2"
    [exported] = (await export(other_api, [result["sequence"]["id"]]))["sequences"]
    assert exported["steps"][1]["config"]["subject"] == "Call them"


async def test_update_of_an_inactive_sequence_replaces_it(api: Api, other_api: Api) -> None:
    seq = await simple_active(api, "Quiet", activate=False)
    document = await export(api, [seq["id"]])
    await import_(other_api, document)
    changed = copy.deepcopy(document)
    changed["sequences"][0]["description"] = "Now with words"
    changed["sequences"][0]["options"]["exitOnReply"] = True
    changed["sequences"][0]["tags"] = ["Fresh/Tag"]
    payload = await import_(other_api, changed)
    assert payload["errors"] == []
    assert actions(payload) == [("Quiet", "UPDATE", False)]
    assert payload["report"]["createdTags"] == ["Fresh", "Fresh/Tag"]
    [exported] = (await export(other_api, [payload["report"]["sequences"][0]["sequence"]["id"]]))[
        "sequences"
    ]
    assert exported["description"] == "Now with words"
    assert exported["options"]["exitOnReply"] is True
    assert exported["tags"] == ["Fresh/Tag"]
    assert exported["status"] == "INACTIVE"


async def test_copy_gives_new_keys_and_remaps_references(api: Api, other_api: Api) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    await prepare_target(other_api)
    await import_(other_api, document)
    payload = await import_(other_api, document, on_conflict="COPY")
    assert payload["errors"] == []
    nurture, webinar = payload["report"]["sequences"]
    assert nurture["action"] == webinar["action"] == "COPY"
    assert nurture["newKey"] not in (None, nurture["key"])
    assert webinar["sequence"]["name"] == "Webinar follow-up (copy)"
    [copied] = (await export(other_api, [webinar["sequence"]["id"]], False))["sequences"]
    assert copied["key"] == webinar["newKey"]
    advance = next(s for s in copied["steps"] if s["key"] == "w-advance")
    assert advance["config"] == {"sequence": nurture["newKey"]}  # the copy, not the original
    assert len(await sequence_names(other_api)) == 4


async def test_an_apply_failing_on_its_last_sequence_leaves_nothing(
    api: Api, other_api: Api
) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    broken = copy.deepcopy(document["sequences"][0])
    broken["key"], broken["name"] = "broken", "Zz broken"
    # It was active at export, but its last step is now a wait: activation must refuse it.
    broken["steps"].append(
        {
            "key": "trailing-wait",
            "type": "core.wait",
            "name": "Wait",
            "description": "",
            "config": {"days": 1},
            "parent": "n-task",
            "branch": "NEXT",
        }
    )
    document["sequences"].append(broken)
    await prepare_target(other_api)
    before = await row_counts(other_api.db)
    payload = await import_(other_api, document, activate=True)
    assert codes(payload) == [("ENDS_WITH_WAIT", "sequences.2.steps.3")]
    assert payload["errors"][0]["index"] == 2
    report = payload["report"]
    assert report["applied"] is False
    assert [s["activated"] for s in report["sequences"]] == [True, True, False]
    assert report["sequences"][2]["problems"][0]["stepKey"] == "trailing-wait"
    assert await row_counts(other_api.db) == before
    assert await sequence_names(other_api) == []


async def test_missing_team_record_type_and_field_are_problems(api: Api, other_api: Api) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    document["recordTypes"][0]["fields"].append({"name": "budget", "type": "NUMBER"})
    document["recordTypes"][0]["fields"][0]["type"] = "NUMBER"  # company is TEXT
    document["recordTypes"][0]["stages"].append("Negotiate")
    document["sequences"][0]["recordType"] = "spaceship"
    before = await row_counts(other_api.db)
    payload = await import_(other_api, document, mode="DRY_RUN")
    assert codes(payload) == [
        ("WRONG_FIELD_TYPE", "recordTypes.0.fields.0.type"),
        ("UNKNOWN_FIELD", "recordTypes.0.fields.5.name"),
        ("UNKNOWN_STAGE", "recordTypes.0.stages.1"),
        ("UNKNOWN_RECORD_TYPE", "sequences.0.recordType"),
        ("UNKNOWN_TEAM", "teams.0.name"),
    ]
    assert payload["report"]["problems"][-1]["message"].startswith(
        "There is no team 'Key accounts'"
    )
    assert await row_counts(other_api.db) == before


async def test_assignment_field_is_checked_here(api: Api, other_api: Api) -> None:
    seq = await simple_active(api, "By field", activate=False)
    document = await export(api, [seq["id"]])
    document["sequences"][0]["assignment"] = {"assignTo": "RECORD_FIELD", "fieldName": "company"}
    payload = await import_(other_api, document)
    assert codes(payload) == [("WRONG_FIELD_TYPE", "sequences.0.assignment.fieldName")]
    document["sequences"][0]["assignment"]["fieldName"] = "account_manager"
    payload = await import_(other_api, document)
    assert payload["errors"] == []
    [exported] = (await export(other_api, [payload["report"]["sequences"][0]["sequence"]["id"]]))[
        "sequences"
    ]
    assert exported["assignment"]["fieldName"] == "account_manager"


async def test_an_active_sequence_keeps_its_assignment(api: Api, other_api: Api) -> None:
    seq = await simple_active(api, "Assigned")
    document = await export(api, [seq["id"]])
    await import_(other_api, document, activate=True)
    document["sequences"][0]["assignment"]["assignTo"] = "CURRENT_USER"
    payload = await import_(other_api, document, activate=True)
    assert codes(payload) == [("SEQUENCE_ACTIVE", "sequences.0.assignment")]


async def test_a_reference_to_a_sequence_missing_here(api: Api, other_api: Api) -> None:
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]], include_dependencies=False)
    await prepare_target(other_api)
    payload = await import_(other_api, document)
    assert codes(payload) == [("ADVANCE_TARGET_NOT_FOUND", "sequences.0.steps.7.config.sequence")]
    # Once the target is here, the same document imports.
    await import_(other_api, await export(api, [source["nurture"]["id"]]))
    assert (await import_(other_api, document))["errors"] == []


async def test_only_administrators_and_sequence_managers_import(api: Api) -> None:
    seq = await simple_active(api)
    document = await export(api, [seq["id"]])
    _, token = await api.user(["SALES_MANAGER", "SALESPERSON"])
    refused = await api.mutate(
        "importSequences",
        {"document": document, "mode": "DRY_RUN"},
        "report { applied }",
        token=token,
    )
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    assert refused["report"] is None
    _, manager = await api.user(["SEQUENCE_MANAGER"])
    allowed = await api.mutate(
        "importSequences",
        {"document": document, "mode": "DRY_RUN"},
        "report { applied }",
        token=manager,
    )
    assert allowed == {"errors": [], "report": {"applied": False}}


async def test_the_audit_log_of_an_import(api: Api, other_api: Api) -> None:
    """Per sequence, in document order: created (or its updates), its properties, imported;
    then the activations. Batched creates keep each entry where `authoring.create` put it."""
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    await prepare_target(other_api)
    first = await import_(other_api, document, activate=True)
    assert first["errors"] == []
    copied = await import_(other_api, document, on_conflict="COPY")
    assert copied["errors"] == []
    async with other_api.db.session() as session:
        names = dict(
            (pk, name) for pk, name in await session.execute(select(Sequence.id, Sequence.name))
        )
        entries = [
            (action, names.get(entity_id, entity_type), version, detail)
            for action, entity_type, entity_id, version, detail in await session.execute(
                select(
                    AuditEntry.action,
                    AuditEntry.entity_type,
                    AuditEntry.entity_id,
                    AuditEntry.version,
                    AuditEntry.detail,
                )
                .where(
                    AuditEntry.organization_id == other_api.org_id,
                    AuditEntry.entity_type == "sequence",
                )
                .order_by(AuditEntry.id)
            )
        ]
    per_sequence = [
        ("sequence.created", 1),
        ("sequence.tags_set", None),
        ("sequence.imported", None),
    ]
    webinar = [
        ("sequence.created", 1),
        ("sequence.assignment_set", None),
        ("sequence.options_set", None),
        ("sequence.owner_assigned", None),
        ("sequence.tags_set", None),
        ("sequence.imported", None),
    ]
    expected = [
        *((action, "Nurture", version) for action, version in per_sequence),
        *((action, "Webinar follow-up", version) for action, version in webinar),
        ("sequence.activated", "Nurture", 1),
        ("sequence.activated", "Webinar follow-up", 1),
        *((action, "Nurture (copy)", version) for action, version in per_sequence),
        *((action, "Webinar follow-up (copy)", version) for action, version in webinar),
    ]
    assert [(action, name, version) for action, name, version, _ in entries] == expected
    created = [detail for action, _, _, detail in entries if action == "sequence.created"]
    assert created == [
        {"name": name, "personal": False}
        for name in ("Nurture", "Webinar follow-up", "Nurture (copy)", "Webinar follow-up (copy)")
    ]
    tags_set = [detail for action, _, _, detail in entries if action == "sequence.tags_set"]
    assert tags_set == 2 * [
        {"added": ["Campaigns/Nurture"], "removed": []},
        {"added": ["Campaigns", "Region/EMEA/Nordics"], "removed": []},
    ]
    imported = [detail for action, _, _, detail in entries if action == "sequence.imported"]
    assert [d["action"] for d in imported] == ["CREATE", "CREATE", "COPY", "COPY"]


async def test_a_sequence_the_authoring_rules_refuse_is_a_problem(api: Api, other_api: Api) -> None:
    """The batched create checks each sequence as `createSequence` does: a blank name is
    refused at its path, and nothing is written."""
    source = await build_source(api)
    document = await export(api, [source["webinar"]["id"]])
    document["sequences"][0]["name"] = "   "
    await prepare_target(other_api)
    before = await row_counts(other_api.db)
    payload = await import_(other_api, document)
    assert codes(payload) == [("REQUIRED", "sequences.0.name")]
    report = payload["report"]
    assert report["applied"] is False
    assert [s["problems"] != [] for s in report["sequences"]] == [True, False]
    assert await row_counts(other_api.db) == before


async def test_the_statements_of_an_import_do_not_grow_with_its_sequences(
    api: Api, other_api: Api
) -> None:
    """Sequences, versions, steps and audit entries are written in a few batched statements:
    importing 3 or 12 sequences sends the same statements."""
    document = await export(api, [(await simple_active(api, "Plain"))["id"]])
    [plain] = document["sequences"]

    def of(count: int, prefix: str) -> dict[str, Any]:
        sequences = [
            {**copy.deepcopy(plain), "key": f"{prefix}{i}", "name": f"{prefix} {i}"}
            for i in range(count)
        ]
        return {**document, "sequences": sequences}

    # The token's last-used time is written once a minute: not during the counted imports.
    await other_api.ok("{ viewer { roles } }")
    counted: dict[int, int] = {}
    for count, prefix in ((3, "small"), (12, "large")):
        with count_statements(other_api) as statements:
            payload = await other_api.mutate(
                "importSequences",
                {"document": of(count, prefix), "mode": "APPLY"},
                "report { applied sequences { action sequence { id status } } }",
            )
        assert payload["errors"] == [] and payload["report"]["applied"] is True
        assert [s["action"] for s in payload["report"]["sequences"]] == count * ["CREATE"]
        counted[count] = len(statements)
    assert counted[12] == counted[3], counted
    async with other_api.db.session() as session:
        logged = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.organization_id == other_api.org_id,
                AuditEntry.action.in_(["sequence.created", "sequence.imported"]),
            )
        )
    assert logged == 2 * (3 + 12)
