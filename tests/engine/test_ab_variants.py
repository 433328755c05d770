"""A/B variants of an automated email through GraphQL: each connection gets one variant by its
weights and keeps it, the outbox and `stats` say which, and ending the test keeps the winner."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api
from tests.engine.helpers import activate, connect_leads
from tests.engine.test_stats import events

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
