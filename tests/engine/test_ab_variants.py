"""A/B variants of an automated email through GraphQL: each connection gets one variant by its
weights and keeps it, the outbox and `stats` say which, and ending the test keeps the winner."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api
from tests.engine.conftest import unique_address
from tests.engine.helpers import activate, connect_leads, seller
from tests.engine.test_stats import events
from tests.transfer.helpers import export, import_

SUBJECTS = {"A": "A: Hi {{ first_name }}", "B": "B: Hello {{ first_name }}", "C": "C: Hey"}
AB_TEST = {
    "template": {"subject": SUBJECTS["A"], "body": "Body A"},
    "template_weight": 1,
    "variants": [
        {"subject": SUBJECTS["B"], "body": "Body B", "weight": 2},
        {"subject": SUBJECTS["C"], "body": "Body C {{ first_name }}", "weight": 1},
    ],
}
OUTBOX = "{ outbox(first: 100) { nodes { to subject text messageId status variant } } }"
STEP_STATS = """query($id: ID!) { sequence(id: $id) { stats { steps { stepKey step { type }
  completed opened clicked replied
  variants { label sent opened clicked replied } } } } }"""


async def ab_sequence(api: Api, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """email.auto with an A/B test -> core.task, activated; returns the sequence with the email
    step's `emailKey`."""
    seq = await create(api, "A/B test")
    email = (await add(api, seq, start_id(seq), "email.auto", config or AB_TEST))["step"]
    await add(api, seq, email["id"], "core.task", {"subject": "Follow up"})
    await activate(api, seq)
    return {**seq, "emailKey": email["key"], "emailId": email["id"]}


async def connect_more(api: Api, seq: dict[str, Any], n: int) -> list[str]:
    """`connect_leads` for `n` more leads (external ids M0...); their addresses."""
    owner_id, _ = await seller(api)
    addresses = [unique_address() for _ in range(n)]
    records = [
        {
            "recordType": "lead",
            "externalId": f"M{i}",
            "name": f"More {i}",
            "ownerUserId": owner_id,
            "fields": {"first_name": f"Ann{i}", "email": address},
        }
        for i, address in enumerate(addresses)
    ]
    payload = await api.mutate("upsertRecords", {"records": records}, "results { record { id } }")
    connected = await api.mutate(
        "connectSequence",
        {
            "sequenceId": seq["id"],
            "records": [{"id": r["record"]["id"]} for r in payload["results"]],
        },
        "results { errors { code } }",
    )
    assert all(r["errors"] == [] for r in connected["results"]), connected
    return addresses


async def outbox(api: Api) -> dict[str, dict[str, Any]]:
    return {m["to"]: m for m in (await api.ok(OUTBOX))["outbox"]["nodes"]}


async def email_stats(api: Api, seq: dict[str, Any]) -> dict[str, Any]:
    data = await api.ok(STEP_STATS, {"id": seq["id"]})
    [step] = [s for s in data["sequence"]["stats"]["steps"] if s["stepKey"] == seq["emailKey"]]
    return step


async def test_each_connection_gets_one_variant_by_weight_and_keeps_it(
    mail_api: Api, mail_engine: Any
) -> None:
    seq = await ab_sequence(mail_api)
    addresses = await connect_leads(mail_api, seq, 48)
    await mail_engine.run_until_idle()
    first = await outbox(mail_api)
    assert set(first) == set(addresses)
    for message in first.values():
        assert message["status"] == "SENT"
        label = message["variant"]
        # The message is its variant's template, rendered.
        assert message["subject"].startswith(f"{label}: ")
        assert message["text"].startswith(f"Body {label}")
    shares = Counter(m["variant"] for m in first.values())
    assert set(shares) == {"A", "B", "C"}  # weights 1:2:1 of 48: about 12, 24, 12
    assert shares["B"] > max(shares["A"], shares["C"]) // 2

    # Running again changes nothing: one message each, the same variant.
    await mail_engine.run_until_idle()
    await mail_engine.deliverer.run_due()
    assert await outbox(mail_api) == first


async def test_variant_stats_add_up_to_the_step(mail_api: Api, mail_engine: Any) -> None:
    seq = await ab_sequence(mail_api)
    await connect_leads(mail_api, seq, 30)
    await mail_engine.run_until_idle()
    messages = list((await outbox(mail_api)).values())
    opened, clicked, replied = messages[:12], messages[3:9], messages[8:12]
    now = mail_engine.clock.now().isoformat()
    await events(
        mail_api,
        *((f"o{i}", "EMAIL_OPENED", m["messageId"]) for i, m in enumerate(opened)),
        *((f"o2-{i}", "EMAIL_OPENED", m["messageId"]) for i, m in enumerate(opened[:4])),
        *((f"c{i}", "LINK_CLICKED", m["messageId"]) for i, m in enumerate(clicked)),
        *((f"r{i}", "EMAIL_REPLIED", m["messageId"]) for i, m in enumerate(replied)),
        at=now,
    )
    step = await email_stats(mail_api, seq)
    assert (step["completed"], step["opened"], step["clicked"], step["replied"]) == (30, 12, 6, 4)

    def per_label(group: list[dict[str, Any]]) -> Counter[str]:
        return Counter(m["variant"] for m in group)

    sent = per_label(messages)
    expected = {
        label: {
            "label": label,
            "sent": sent[label],
            "opened": per_label(opened)[label],
            "clicked": per_label(clicked)[label],
            "replied": per_label(replied)[label],
        }
        for label in sorted(sent)
    }
    assert step["variants"] == list(expected.values())
    for name, total in (("sent", 30), ("opened", 12), ("clicked", 6), ("replied", 4)):
        assert sum(v[name] for v in step["variants"]) == total


async def test_a_step_without_variants_has_none(mail_api: Api, mail_engine: Any) -> None:
    seq = await ab_sequence(
        mail_api, {"template": {"subject": "Plain {{ first_name }}", "body": "No test"}}
    )
    await connect_leads(mail_api, seq, 3)
    await mail_engine.run_until_idle()
    assert {m["variant"] for m in (await outbox(mail_api)).values()} == {None}
    step = await email_stats(mail_api, seq)
    assert (step["completed"], step["variants"]) == (3, [])


async def test_a_test_of_five_variants_or_a_bad_variant_template_cannot_run(api: Api) -> None:
    seq = await create(api, "Bad A/B test")
    five = {**AB_TEST, "variants": [{"subject": f"S{i}", "body": "B"} for i in range(4)]}
    email = (await add(api, seq, start_id(seq), "email.auto", five))["step"]
    bad = {**AB_TEST, "variants": [AB_TEST["variants"][0], {"subject": "{{ nope }}", "body": "B"}]}
    await add(api, seq, email["id"], "email.auto", bad)
    payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { status }")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("TOO_MANY", ["variants"]),
        ("UNKNOWN_MERGE_FIELD", ["variants", "1", "subject"]),
    ]
    assert payload["sequence"] is None


VERSIONS = """query($id: ID!) { sequence(id: $id) { status
  versions { number status changeDescription steps { key type config } }
  auditLog(first: 50) { nodes { action } } } }"""


async def versions(api: Api, seq: dict[str, Any]) -> dict[str, Any]:
    return (await api.ok(VERSIONS, {"id": seq["id"]}))["sequence"]


async def choose(api: Api, seq: dict[str, Any], **input: Any) -> dict[str, Any]:
    return await api.mutate(
        "chooseVariantWinner",
        {"sequenceId": seq["id"], "stepKey": seq["emailKey"], **input},
        "sequence { status currentVersion { number changeDescription } draft { number } }",
    )


def email_config(version: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s["config"] for s in version["steps"] if s["key"] == key)


async def test_the_winner_is_the_steps_only_content_in_a_new_version(
    mail_api: Api, mail_engine: Any
) -> None:
    seq = await ab_sequence(mail_api)
    await connect_leads(mail_api, seq, 8)
    await mail_engine.run_until_idle()
    before = await outbox(mail_api)

    payload = await choose(mail_api, seq, variant="B")
    assert payload["errors"] == []
    assert payload["sequence"] == {
        "status": "ACTIVE",
        "currentVersion": {"number": 2, "changeDescription": "Variant B won"},
        "draft": None,
    }
    seen = await versions(mail_api, seq)
    new, old = seen["versions"]  # newest first
    assert (old["number"], old["status"], new["number"], new["status"]) == (
        1,
        "RETIRED",
        2,
        "ACTIVE",
    )
    assert email_config(old, seq["emailKey"]) == AB_TEST  # the old version keeps its test
    assert email_config(new, seq["emailKey"]) == {
        "template": {"subject": SUBJECTS["B"], "body": "Body B"}
    }
    actions = [n["action"] for n in seen["auditLog"]["nodes"]]
    assert {"sequence.variant_winner_chosen", "sequence.revision_activated"} <= set(actions)

    # Emails sent before keep their variant; connections made now get the winner, untested.
    after = await connect_more(mail_api, seq, 4)
    await mail_engine.run_until_idle()
    now = await outbox(mail_api)
    assert {a: now[a] for a in before} == before
    for address in after:
        assert (now[address]["variant"], now[address]["text"]) == (None, "Body B")
        assert now[address]["subject"].startswith("B: Hello Ann")
    step = await email_stats(mail_api, seq)
    assert step["completed"] == 12 and sum(v["sent"] for v in step["variants"]) == 8

    # A change description of one's own is kept; choosing A keeps the template as it is.
    seq2 = await ab_sequence(mail_api)
    payload = await choose(mail_api, seq2, variant="A", changeDescription="A opened best")
    assert payload["sequence"]["currentVersion"] == {
        "number": 2,
        "changeDescription": "A opened best",
    }
    new = (await versions(mail_api, seq2))["versions"][0]
    assert email_config(new, seq2["emailKey"]) == {"template": AB_TEST["template"]}


async def test_an_inactive_sequence_gets_the_winner_in_its_draft(api: Api) -> None:
    seq = await create(api, "Inactive A/B test")
    email = (await add(api, seq, start_id(seq), "email.auto", AB_TEST))["step"]
    seq = {**seq, "emailKey": email["key"]}
    payload = await choose(api, seq, variant="C")
    assert payload["errors"] == []
    assert payload["sequence"]["status"] == "INACTIVE"
    [draft] = (await versions(api, seq))["versions"]
    assert draft["status"] == "DRAFT"
    assert email_config(draft, seq["emailKey"]) == {
        "template": {"subject": SUBJECTS["C"], "body": "Body C {{ first_name }}"}
    }


async def test_a_bad_winner_is_refused_with_its_field_and_changes_nothing(
    mail_api: Api,
) -> None:
    seq = await ab_sequence(mail_api)
    plain = await ab_sequence(mail_api, {"template": {"subject": "Plain", "body": "No test"}})
    task_key = next(
        s["key"]
        for s in (await versions(mail_api, seq))["versions"][0]["steps"]
        if s["type"] == "core.task"
    )
    before = await versions(mail_api, seq)
    _, seller_token = await mail_api.user(["SALESPERSON"])
    cases = [
        (mail_api, seq, {"stepKey": "no-such-step", "variant": "A"}, "NOT_FOUND", ["stepKey"]),
        (mail_api, seq, {"stepKey": task_key, "variant": "A"}, "INVALID_VALUE", ["stepKey"]),
        (mail_api, plain, {"variant": "A"}, "INVALID_VALUE", ["stepKey"]),
        (mail_api, seq, {"variant": "D"}, "INVALID_VALUE", ["variant"]),  # A, B and C only
        (mail_api, seq, {"variant": "b"}, "INVALID_VALUE", ["variant"]),
        (mail_api, seq, {"variant": ""}, "INVALID_VALUE", ["variant"]),
        (mail_api, seq, {"variant": "AB"}, "INVALID_VALUE", ["variant"]),
        (mail_api.as_token(seller_token), seq, {"variant": "B"}, "FORBIDDEN", None),
    ]
    for caller, target, input, code, field in cases:
        payload = await choose(caller, target, **input)
        assert payload["sequence"] is None
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], input
    assert await versions(mail_api, seq) == before

    # An open draft revision is the manager's work: refused, the draft left as it is.
    revised = await mail_api.mutate(
        "createSequenceRevision", {"sequenceId": seq["id"]}, "sequence { id }"
    )
    assert revised["errors"] == []
    with_draft = await versions(mail_api, seq)
    payload = await choose(mail_api, seq, variant="B")
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("DRAFT_EXISTS", ["sequenceId"])
    ]
    assert await versions(mail_api, seq) == with_draft


async def test_an_ab_test_moves_with_export_and_import(api: Api, other_api: Api) -> None:
    seq = await ab_sequence(api)
    document = await export(api, [seq["id"]])
    [exported] = document["sequences"]
    assert email_config({"steps": exported["steps"]}, seq["emailKey"]) == AB_TEST
    payload = await import_(other_api, document, activate=True)
    assert payload["errors"] == [] and payload["report"]["applied"]
    [imported] = payload["report"]["sequences"]
    assert imported["sequence"]["status"] == "ACTIVE"
    there = await versions(other_api, imported["sequence"])
    assert email_config(there["versions"][0], seq["emailKey"]) == AB_TEST
