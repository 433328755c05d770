"""The recipient's out-of-office, through GraphQL with a moved clock: an EMAIL_AUTO_REPLY
event (with a return date, one read from a raw message, or none: 5 working days) pauses the
connection AUTO_REPLY until that day's start in the record's time zone, the engine resumes it
then and the sequence goes on; an auto-reply is never a reply (no "replied" condition, no exit
on reply); a person's raw reply is EMAIL_REPLIED; a manual pause is USER and is left alone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sekvens.config import Settings
from sekvens.domain.auto_reply_pauses import working_days_after
from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_engine import AUTO, seller
from tests.conftest import Api, MovableClock
from tests.engine.helpers import activate
from tests.engine.test_bounces import dsn

MAIL = Path(__file__).parent.parent / "fixtures" / "mail"
CONNECTION = (
    "id status reason pauseReason resumeAt record { externalId } activities { subject status }"
)
INBOUND = "results { index kind recorded duplicate messageId returnDate connectionId errors { code field } }"
NEW_YORK = ZoneInfo("America/New_York")
OSLO = ZoneInfo("Europe/Oslo")


async def replied_condition(api: Api, exit_on_reply: bool = False) -> dict[str, Any]:
    """email.auto -> replied? (3 days) -> YES task "Replied" / NO email.auto "Second" ->
    task "Follow up"."""
    await api.mutate(
        "updateOrganizationSettings", {"skipNonWorkingTime": False}, "organization { id }"
    )
    seq = await create(api, "Out of office")
    email = (await add(api, seq, start_id(seq), "email.auto", AUTO))["step"]
    config = {"events": ["REPLIED"], "days": 3, "advance_immediately": True}
    cond = (await add(api, seq, email["id"], "email.condition", config))["step"]
    await add(api, seq, cond["id"], "core.task", {"subject": "Replied"}, branch="YES")
    second = {"template": {"subject": "Second", "body": "Again"}}
    again = (await add(api, seq, cond["id"], "email.auto", second, branch="NO"))["step"]
    await add(api, seq, again["id"], "core.task", {"subject": "Follow up"})
    if exit_on_reply:
        await api.mutate(
            "setSequenceOptions",
            {"sequenceId": seq["id"], "exitOnReply": True},
            "sequence { id }",
        )
    return await activate(api, seq)


async def connect_lead(api: Api, seq: dict[str, Any], zone: str) -> str:
    """One lead in `zone`, connected; returns its connection's id."""
    owner_id, _ = await seller(api, f"s-{uuid.uuid4().hex[:8]}@example.com")
    record = {
        "recordType": "lead",
        "externalId": "L0",
        "name": "Lead",
        "ownerUserId": owner_id,
        "fields": {"first_name": "Ann", "email": "ann@example.com", "time_zone": zone},
    }
    upserted = await api.mutate("upsertRecords", {"records": [record]}, "results { record { id } }")
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": upserted["results"][0]["record"]["id"]}]},
        "results { errors { code } connection { id } }",
    )
    [result] = connected["results"]
    assert result["errors"] == []
    return str(result["connection"]["id"])


async def connection(api: Api, conn_id: str) -> dict[str, Any]:
    data = await api.ok(
        f"query($id: ID!) {{ node(id: $id) {{ ... on SequenceTarget {{ {CONNECTION} }} }} }}",
        {"id": conn_id},
    )
    return dict(data["node"])


async def sent(api: Api) -> list[dict[str, str]]:
    data = await api.ok("{ outbox(first: 100) { nodes { subject messageId } } }")
    return list(data["outbox"]["nodes"])


async def event(api: Api, kind: str, message_id: str, at: datetime, **extra: Any) -> dict[str, Any]:
    payload = await api.mutate(
        "recordEngagementEvents",
        {
            "events": [
                {
                    "eventId": uuid.uuid4().hex,
                    "kind": kind,
                    "messageId": message_id,
                    "occurredAt": at.isoformat(),
                    **extra,
                }
            ]
        },
        "results { recorded errors { code field } }",
    )
    assert payload["errors"] == []
    return dict(payload["results"][0])


async def replied(api: Api, seq: dict[str, Any]) -> tuple[int, int]:
    """The sequence's paused connections and its emails' replies (`stats`)."""
    data = await api.ok(
        "query($id: ID!) { sequence(id: $id) { stats { paused"
        " steps { step { type } replied } } } }",
        {"id": seq["id"]},
    )
    stats = data["sequence"]["stats"]
    return stats["paused"], sum(s["replied"] for s in stats["steps"])


def start(day: date, zone: ZoneInfo) -> str:
    """The first instant of `day` in `zone`, as the API writes it (UTC)."""
    return datetime.combine(day, time(0), zone).astimezone(ZoneInfo("UTC")).isoformat()


def auto_reply(answering: str, sent_at: datetime, text: str) -> str:
    return (
        "From: Ann <ann@example.com>\r\n"
        "To: seller@example.com\r\n"
        "Subject: Out of office\r\n"
        f"Date: {format_datetime(sent_at)}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@customer.example>\r\n"
        f"In-Reply-To: {answering}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n"
    )


def human_reply(answering: str) -> str:
    raw = (MAIL / "reply_human.eml").read_text()
    raw = raw.replace("<b4e1@kunde.no>", f"<{uuid.uuid4().hex}@kunde.no>")
    raw = raw.replace("In-Reply-To: <c0ffee42@sekvens.local>", "In-Reply-To: <other@x.example>")
    return raw.replace("X-Auto-Response-Suppress: All", f"References: {answering}")


async def test_an_auto_reply_with_a_return_date_pauses_until_then_and_does_not_satisfy_replied(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    seq = await replied_condition(api)
    conn_id = await connect_lead(api, seq, "America/New_York")
    await engine.run_until_idle()
    [first] = await sent(api)
    back = (clock.now() + timedelta(days=10)).astimezone(NEW_YORK).date()

    assert await event(
        api, "EMAIL_AUTO_REPLY", first["messageId"], clock.now(), returnDate=back.isoformat()
    ) == {"recorded": True, "errors": []}
    paused = await connection(api, conn_id)
    assert (paused["status"], paused["pauseReason"]) == ("PAUSED", "AUTO_REPLY")
    assert paused["resumeAt"] == start(back, NEW_YORK)

    # The condition's 3 days pass while paused: nothing happens, nothing is sent.
    clock.advance(timedelta(days=5))
    await engine.run_until_idle()
    assert (await connection(api, conn_id))["status"] == "PAUSED"
    assert len(await sent(api)) == 1

    # Resumed at the return date; the condition times out NO: the auto-reply was no reply.
    clock.advance(datetime.fromisoformat(paused["resumeAt"]) - clock.now() + timedelta(minutes=1))
    await engine.run_until_idle()
    resumed = await connection(api, conn_id)
    assert (resumed["status"], resumed["pauseReason"], resumed["resumeAt"]) == (
        "CONNECTED",
        None,
        None,
    )
    assert sorted(m["subject"] for m in await sent(api)) == ["Hi Ann", "Second"]
    assert [a["subject"] for a in resumed["activities"]] == [
        "Automated email",
        "Automated email",
        "Follow up",
    ]


async def test_without_a_return_date_it_pauses_five_working_days_skipping_weekend_and_holiday(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    seq = await replied_condition(api)
    conn_id = await connect_lead(api, seq, "Europe/Oslo")
    await engine.run_until_idle()
    [first] = await sent(api)
    today = clock.now().astimezone(OSLO).date()
    friday = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    holiday = friday + timedelta(days=5)  # the Wednesday after
    settings = await api.mutate(
        "updateOrganizationSettings", {"holidays": [holiday.isoformat()]}, "organization { id }"
    )
    assert settings["errors"] == []
    clock.advance(datetime.combine(friday, time(10), OSLO) - clock.now())

    assert (await event(api, "EMAIL_AUTO_REPLY", first["messageId"], clock.now()))["recorded"]
    # Mon, Tue, (Wed off), Thu, Fri, Mon: back on the second Monday.
    paused = await connection(api, conn_id)
    assert (paused["status"], paused["pauseReason"]) == ("PAUSED", "AUTO_REPLY")
    assert paused["resumeAt"] == start(friday + timedelta(days=10), OSLO)


async def test_return_dates_are_checked_and_one_not_ahead_pauses_nothing(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    seq = await replied_condition(api)
    conn_id = await connect_lead(api, seq, "UTC")
    await engine.run_until_idle()
    [first] = await sent(api)
    message_id, now = first["messageId"], clock.now()
    ahead = (now + timedelta(days=3)).date().isoformat()

    refused = [
        await event(api, "EMAIL_REPLIED", message_id, now, returnDate=ahead),
        await event(api, "EMAIL_AUTO_REPLY", message_id, now, data={"returnDate": "soon"}),
        await event(
            api,
            "EMAIL_AUTO_REPLY",
            message_id,
            now,
            returnDate=ahead,
            data={"returnDate": "2020-01-01"},
        ),
    ]
    # A year ahead at most, as a date read from a message's text (9999-12-31 would pause for
    # ever; year 1 at midnight in New York is before the first instant there is).
    refused += [
        await event(api, "EMAIL_AUTO_REPLY", message_id, now, returnDate="9999-12-31"),
        await event(api, "EMAIL_AUTO_REPLY", message_id, now, data={"returnDate": "9999-12-31"}),
    ]
    assert [r["errors"] for r in refused] == [
        [{"code": "INVALID_VALUE", "field": ["events", "0", "returnDate"]}],
        [{"code": "INVALID_VALUE", "field": ["events", "0", "data", "returnDate"]}],
        [{"code": "INVALID_VALUE", "field": ["events", "0", "returnDate"]}],
        [{"code": "INVALID_VALUE", "field": ["events", "0", "returnDate"]}],
        [{"code": "INVALID_VALUE", "field": ["events", "0", "data", "returnDate"]}],
    ]
    assert (await connection(api, conn_id))["status"] == "CONNECTED"

    # Dates at the ends of the calendar are recorded and pause nothing, never INTERNAL_ERROR.
    end_of_time = datetime(9999, 12, 31, 20, tzinfo=UTC)
    assert (await event(api, "EMAIL_AUTO_REPLY", message_id, end_of_time))["recorded"]
    first_day = datetime(1, 1, 1, 12, tzinfo=UTC)
    past = await event(api, "EMAIL_AUTO_REPLY", message_id, first_day, returnDate="0001-01-01")
    assert past["recorded"]
    assert (await connection(api, conn_id))["status"] == "CONNECTED"

    # Back today: recorded, nothing paused.
    today = now.date().isoformat()
    assert (await event(api, "EMAIL_AUTO_REPLY", message_id, now, returnDate=today))["recorded"]
    assert (await connection(api, conn_id))["pauseReason"] is None


async def test_a_manual_pause_is_user_and_an_auto_reply_leaves_it_a_later_one_extends(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    seq = await replied_condition(api)
    conn_id = await connect_lead(api, seq, "UTC")
    await engine.run_until_idle()
    [first] = await sent(api)
    message_id, now = first["messageId"], clock.now()
    in_days = [(now + timedelta(days=d)).date() for d in (0, 4, 8, 20)]

    paused = await api.mutate(
        "pauseConnection", {"connectionId": conn_id}, "connection { status pauseReason }"
    )
    assert paused["connection"] == {"status": "PAUSED", "pauseReason": "USER"}
    assert (await event(api, "EMAIL_AUTO_REPLY", message_id, now, returnDate=str(in_days[3])))[
        "recorded"
    ]
    kept = await connection(api, conn_id)
    assert (kept["pauseReason"], kept["resumeAt"]) == ("USER", None)
    resumed = await api.mutate(
        "resumeConnection", {"connectionId": conn_id}, "connection { status pauseReason }"
    )
    assert resumed["connection"] == {"status": "CONNECTED", "pauseReason": None}

    await event(api, "EMAIL_AUTO_REPLY", message_id, now, returnDate=str(in_days[2]))
    assert (await connection(api, conn_id))["resumeAt"] == start(in_days[2], ZoneInfo("UTC"))
    await event(api, "EMAIL_AUTO_REPLY", message_id, now, returnDate=str(in_days[1]))
    assert (await connection(api, conn_id))["resumeAt"] == start(in_days[2], ZoneInfo("UTC"))
    await event(api, "EMAIL_AUTO_REPLY", message_id, now, returnDate=str(in_days[3]))
    assert (await connection(api, conn_id))["resumeAt"] == start(in_days[3], ZoneInfo("UTC"))
    again = await api.mutate("pauseConnection", {"connectionId": conn_id}, "connection { id }")
    assert [e["code"] for e in again["errors"]] == ["INVALID_VALUE"]


async def test_a_raw_auto_reply_pauses_until_the_date_it_states_and_a_raw_reply_exits(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    seq = await replied_condition(api, exit_on_reply=True)
    conn_id = await connect_lead(api, seq, "America/New_York")
    await engine.run_until_idle()
    [first] = await sent(api)
    message_id, now = first["messageId"], clock.now()
    back = (now + timedelta(days=12)).astimezone(NEW_YORK).date()
    raw = auto_reply(message_id, now, f"I am out of the office and back on {back.day} {back:%B}.")
    hook = await api.mutate(
        "createApiToken", {"name": "inbox", "scopes": ["ENGAGEMENT_EVENTS"]}, "secret"
    )
    inbox = api.as_token(hook["secret"])
    unknown = auto_reply("<nobody-sent-this@x.example>", now, "Back on 3 March.")

    payload = await inbox.mutate("recordInboundMessages", {"messages": [raw, unknown]}, INBOUND)
    assert payload["errors"] == []
    assert payload["results"] == [
        {
            "index": 0,
            "kind": "EMAIL_AUTO_REPLY",
            "recorded": True,
            "duplicate": False,
            "messageId": message_id,
            "returnDate": back.isoformat(),
            "connectionId": conn_id,
            "errors": [],
        },
        {
            "index": 1,
            "kind": None,
            "recorded": False,
            "duplicate": False,
            "messageId": None,
            "returnDate": None,
            "connectionId": None,
            "errors": [{"code": "UNKNOWN_MESSAGE", "field": ["messages", "1"]}],
        },
    ]
    paused = await connection(api, conn_id)
    assert (paused["status"], paused["pauseReason"]) == ("PAUSED", "AUTO_REPLY")
    assert paused["resumeAt"] == start(back, NEW_YORK)
    [again] = (await inbox.mutate("recordInboundMessages", {"messages": [raw]}, INBOUND))["results"]
    assert (again["recorded"], again["duplicate"]) == (False, True)
    kinds = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on SequenceTarget { auditLog { nodes { action detail } } } } }",
        {"id": conn_id},
    )
    recorded = [
        e["kind"]
        for entry in kinds["node"]["auditLog"]["nodes"]
        if entry["action"] == "connection.events_recorded"
        for e in entry["detail"]["events"]
    ]
    assert recorded == ["EMAIL_AUTO_REPLY"]  # not EMAIL_REPLIED: no exit on reply

    # The person answers (their reply states a date too, but is no auto-reply): they replied.
    [reply] = (
        await inbox.mutate(
            "recordInboundMessages", {"messages": [human_reply(message_id)]}, INBOUND
        )
    )["results"]
    assert (reply["kind"], reply["recorded"], reply["returnDate"]) == ("EMAIL_REPLIED", True, None)
    ended = await connection(api, conn_id)
    assert (ended["status"], ended["reason"], ended["pauseReason"]) == (
        "DISCONNECTED",
        "EXIT_CRITERION_MET",
        None,
    )


async def test_a_persons_reply_during_an_auto_reply_pause_resumes_and_satisfies_replied(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    seq = await replied_condition(api)
    conn_id = await connect_lead(api, seq, "UTC")
    await engine.run_until_idle()
    [first] = await sent(api)
    message_id, now = first["messageId"], clock.now()
    back = (now + timedelta(days=10)).date().isoformat()
    await event(api, "EMAIL_AUTO_REPLY", message_id, now, returnDate=back)
    assert (await connection(api, conn_id))["pauseReason"] == "AUTO_REPLY"
    assert await replied(api, seq) == (1, 0)  # paused; an auto-reply is no reply

    payload = await api.mutate(
        "recordInboundMessages", {"messages": [human_reply(message_id)]}, INBOUND
    )
    assert payload["results"][0]["kind"] == "EMAIL_REPLIED"
    await engine.run_until_idle()
    state = await connection(api, conn_id)
    assert (state["status"], state["pauseReason"]) == ("CONNECTED", None)
    assert [a["subject"] for a in state["activities"]] == ["Automated email", "Replied"]
    assert await replied(api, seq) == (0, 1)


async def test_an_inbound_dsn_bounces_and_a_mail_systems_other_message_is_no_reply(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    seq = await replied_condition(api, exit_on_reply=True)
    conn_id = await connect_lead(api, seq, "UTC")
    await engine.run_until_idle()
    [first] = await sent(api)
    message_id = first["messageId"]
    # A plain-text bounce (no delivery-status part) that names the email: not a reply.
    plain = (MAIL / "bounce_qmail_plain.eml").read_text()
    plain = plain.replace(
        "Subject: failure notice", f"Subject: failure notice\nIn-Reply-To: {message_id}"
    )
    daemon = human_reply(message_id).replace(
        "From: Ola Nordmann <ola.nordmann@kunde.no>", "From: Mail Delivery <MAILER-DAEMON@kunde.no>"
    )

    payload = await api.mutate("recordInboundMessages", {"messages": [plain, daemon]}, INBOUND)
    assert [(r["kind"], r["recorded"], r["errors"]) for r in payload["results"]] == [
        (None, False, [{"code": "MAIL_SYSTEM_MESSAGE", "field": ["messages", "0"]}]),
        (None, False, [{"code": "MAIL_SYSTEM_MESSAGE", "field": ["messages", "1"]}]),
    ]
    assert (await connection(api, conn_id))["status"] == "CONNECTED"

    # A delivery status notification takes the bounce path: hard, the connection ends.
    bounce = dsn("dsn_postfix_user_unknown.eml", message_id, "ann@example.com")
    [result] = (await api.mutate("recordInboundMessages", {"messages": [bounce]}, INBOUND))[
        "results"
    ]
    assert (result["kind"], result["recorded"], result["messageId"], result["errors"]) == (
        "EMAIL_BOUNCED",
        True,
        message_id,
        [],
    )
    ended = await connection(api, conn_id)
    assert (ended["status"], ended["reason"]) == ("DISCONNECTED", "BOUNCED")
    [again] = (await api.mutate("recordInboundMessages", {"messages": [bounce]}, INBOUND))[
        "results"
    ]
    assert (again["kind"], again["duplicate"]) == ("EMAIL_BOUNCED", True)


async def test_inbound_messages_are_limited_in_number_and_size(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    seq = await replied_condition(api)
    conn_id = await connect_lead(api, seq, "UTC")
    await engine.run_until_idle()
    [first] = await sent(api)
    reply = human_reply(first["messageId"])

    too_many = await api.mutate("recordInboundMessages", {"messages": [reply] * 101}, INBOUND)
    assert [(e["code"], e["field"]) for e in too_many["errors"]] == [("TOO_MANY", ["messages"])]
    assert too_many["results"] == []
    subjects = [a["subject"] for a in (await connection(api, conn_id))["activities"]]
    assert subjects == ["Automated email"]  # nothing recorded
    huge = reply + "x" * 1_000_000
    payload = await api.mutate("recordInboundMessages", {"messages": [huge, reply]}, INBOUND)
    assert [(r["kind"], r["recorded"], r["errors"]) for r in payload["results"]] == [
        (None, False, [{"code": "TOO_LONG", "field": ["messages", "0"]}]),
        ("EMAIL_REPLIED", True, []),
    ]
    subjects = [a["subject"] for a in (await connection(api, conn_id))["activities"]]
    assert subjects == ["Automated email", "Replied"]


async def test_the_pause_without_a_date_is_a_setting(
    api: Api, engine: Any, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings.from_env({}).auto_reply_pause_days == 5
    assert Settings.from_env({"SEKVENS_AUTO_REPLY_PAUSE_DAYS": "2"}).auto_reply_pause_days == 2
    for bad in ("-1", "61"):
        with pytest.raises(ValueError, match="SEKVENS_AUTO_REPLY_PAUSE_DAYS"):
            Settings.from_env({"SEKVENS_AUTO_REPLY_PAUSE_DAYS": bad})

    seq = await replied_condition(api)
    conn_id = await connect_lead(api, seq, "UTC")
    await engine.run_until_idle()
    [first] = await sent(api)
    monkeypatch.setattr(engine.runner, "auto_reply_pause_days", 0)
    await event(api, "EMAIL_AUTO_REPLY", first["messageId"], clock.now())
    assert (await connection(api, conn_id))["status"] == "CONNECTED"  # 0: no pause

    monkeypatch.setattr(engine.runner, "auto_reply_pause_days", 2)
    today = clock.now().date()
    await event(api, "EMAIL_AUTO_REPLY", first["messageId"], clock.now())
    paused = await connection(api, conn_id)
    assert paused["resumeAt"] == start(working_days_after(today, 2), ZoneInfo("UTC"))
