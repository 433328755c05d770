"""Send windows through GraphQL with a moved clock and a real SMTP server on loopback: an
email reached outside the recipient's window waits (the outbox, the connection and stats say
WAITING_FOR_SEND_WINDOW and when) and goes when the window opens, never before; holidays are
skipped; a record without a time zone uses the organization's; bad windows are refused."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sekvens.engine.delivery import Failure
from tests.conftest import Api, MovableClock
from tests.engine.conftest import Inbox, unique_address
from tests.engine.helpers import connect_leads, email_then_task, queue_only, seller

WEEKDAYS = {"weekdays": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"}
OUTBOX = (
    "{ outbox(first: 100) { nodes { to status attempts lastError waitReason nextAttemptAt"
    " sendAfter sentAt } } }"
)
CONNECTION = "waiting { reason until } record { externalId }"


def ahead(clock: MovableClock, zone: ZoneInfo, weekday: int, at: time) -> datetime:
    """The first `weekday` (1 is Monday) at `at` in `zone` at least two days after the
    clock's now (the session's clock only moves forward)."""
    day = (clock.now() + timedelta(days=2)).astimezone(zone).date()
    day += timedelta(days=(weekday - day.isoweekday()) % 7)
    return datetime.combine(day, at, tzinfo=zone)


def move_to(clock: MovableClock, moment: datetime) -> None:
    clock.advance(moment - clock.now())


async def connect_lead(api: Api, seq: dict[str, Any], **fields: Any) -> str:
    """Connect a new lead (with `fields` besides its name and address); returns its address."""
    owner_id, _ = await seller(api)
    address = unique_address()
    record = {
        "recordType": "lead",
        "externalId": "L0",
        "name": "Lead 0",
        "ownerUserId": owner_id,
        "fields": {"first_name": "Ann", "email": address, **fields},
    }
    payload = await api.mutate("upsertRecords", {"records": [record]}, "results { record { id } }")
    record_id = payload["results"][0]["record"]["id"]
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": record_id}]},
        "results { errors { code } }",
    )
    assert connected["errors"] == [] and connected["results"][0]["errors"] == []
    return address


async def stored(api: Api, address: str) -> dict[str, Any]:
    nodes = (await api.ok(OUTBOX))["outbox"]["nodes"]
    [message] = [m for m in nodes if m["to"] == address]
    return message


async def waiting(api: Api, seq: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """The connection's `waiting` and the sequence's `stats.waiting`."""
    data = await api.ok(
        "query($f: ConnectionFilter, $id: ID!) {"
        f" connections(filter: $f) {{ nodes {{ {CONNECTION} }} }}"
        " sequence(id: $id) { stats { waiting { reason count } } } }",
        {"f": {"sequenceId": seq["id"]}, "id": seq["id"]},
    )
    [conn] = data["connections"]["nodes"]
    return conn["waiting"], data["sequence"]["stats"]["waiting"]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_reached_at_22_00_goes_at_the_window_start_next_working_day(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    ny = ZoneInfo("America/New_York")
    seq = await email_then_task(mail_api)
    # The window may change while the sequence is active; the organization has none.
    payload = await mail_api.mutate(
        "setSequenceOptions",
        {"sequenceId": seq["id"], "sendWindow": WEEKDAYS},
        "sequence { options { sendWindow { weekdays start end } } }",
    )
    assert payload["errors"] == []
    assert payload["sequence"]["options"]["sendWindow"] == WEEKDAYS
    tuesday_22 = ahead(clock, ny, 2, time(22, 0))
    opens = datetime.combine(tuesday_22.date() + timedelta(days=1), time(8, 0), tzinfo=ny)
    move_to(clock, tuesday_22)
    address = await connect_lead(mail_api, seq, time_zone="America/New_York")
    await mail_engine.run_until_idle()

    message = await stored(mail_api, address)
    assert (message["status"], message["waitReason"], message["attempts"]) == (
        "QUEUED",
        "WAITING_FOR_SEND_WINDOW",
        0,
    )
    assert at(message["nextAttemptAt"]) == at(message["sendAfter"]) == opens
    wait, counts = await waiting(mail_api, seq)
    assert wait["reason"] == "WAITING_FOR_SEND_WINDOW" and at(wait["until"]) == opens
    assert counts == [{"reason": "WAITING_FOR_SEND_WINDOW", "count": 1}]
    assert inbox.to(address) == []

    move_to(clock, opens - timedelta(minutes=1))  # 07:59: not yet
    await mail_engine.run_until_idle()
    assert inbox.to(address) == []
    assert (await stored(mail_api, address))["attempts"] == 0

    move_to(clock, opens)
    await mail_engine.run_until_idle()
    [sent] = inbox.to(address)
    assert parsedate_to_datetime(sent["Date"]) == opens  # dated when the window opened
    message = await stored(mail_api, address)
    assert (message["status"], message["waitReason"]) == ("SENT", None)
    assert at(message["sentAt"]) >= opens
    assert await waiting(mail_api, seq) == (None, [])


async def test_holidays_are_skipped_and_a_record_without_a_zone_uses_the_organizations(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    monday_20 = ahead(clock, tokyo, 1, time(20, 0))
    holiday: date = monday_20.date() + timedelta(days=1)
    window = {"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}
    payload = await mail_api.mutate(
        "updateOrganizationSettings",
        {"sendWindow": window, "defaultTimeZone": "Asia/Tokyo", "holidays": [str(holiday)]},
        "organization { sendWindow { weekdays start end } }",
    )
    assert payload["errors"] == []
    assert payload["organization"]["sendWindow"] == window
    seq = await email_then_task(mail_api)  # no window of its own: the organization's
    opens = datetime.combine(holiday + timedelta(days=1), time(9, 0), tzinfo=tokyo)
    move_to(clock, monday_20)
    address = await connect_lead(mail_api, seq)
    await mail_engine.run_until_idle()
    message = await stored(mail_api, address)
    assert message["waitReason"] == "WAITING_FOR_SEND_WINDOW"
    assert at(message["nextAttemptAt"]) == opens

    move_to(clock, datetime.combine(holiday, time(10, 0), tzinfo=tokyo))  # the holiday
    await mail_engine.run_until_idle()
    assert inbox.to(address) == []

    # The server refuses at the opening: the retry backoff works as for any message.
    inbox.reply = "451 4.3.0 Mailbox busy, try later"
    move_to(clock, opens)
    await mail_engine.run_until_idle()
    message = await stored(mail_api, address)
    assert (message["status"], message["attempts"], message["waitReason"]) == (
        "QUEUED",
        1,
        "RETRYING",
    )
    assert "451" in message["lastError"]
    assert timedelta(seconds=59) < at(message["nextAttemptAt"]) - opens < timedelta(minutes=2)
    inbox.reply = None
    clock.advance(timedelta(minutes=2))
    await mail_engine.run_until_idle()
    [sent] = inbox.to(address)
    assert parsedate_to_datetime(sent["Date"]) == opens
    assert (await stored(mail_api, address))["status"] == "SENT"

    # Null removes the organization's window: mail goes at once again.
    payload = await mail_api.mutate(
        "updateOrganizationSettings", {"sendWindow": None}, "organization { sendWindow { start } }"
    )
    assert payload == {"errors": [], "organization": {"sendWindow": None}}


BAD = [
    ({"weekdays": []}, ["sendWindow", "weekdays"]),
    ({"weekdays": [1, 8]}, ["sendWindow", "weekdays"]),
    ({"start": "18:00", "end": "08:00"}, ["sendWindow", "start"]),
    ({"start": "8 am"}, ["sendWindow", "start"]),
    ({"end": "24:00"}, ["sendWindow", "end"]),
]


@pytest.mark.parametrize(("bad", "field"), BAD)
async def test_bad_windows_are_refused_and_nothing_changes(
    mail_api: Api, bad: dict[str, Any], field: list[str]
) -> None:
    selection = "organization { name sendWindow { start } }"
    payload = await mail_api.mutate(
        "updateOrganizationSettings", {"name": "Renamed", "sendWindow": bad}, selection
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_VALUE", field)]
    data = await mail_api.ok("{ viewer { organization { name sendWindow { start } } } }")
    assert data["viewer"]["organization"] == {"name": mail_api.org, "sendWindow": None}

    seq = await email_then_task(mail_api)
    payload = await mail_api.mutate(
        "setSequenceOptions",
        {"sequenceId": seq["id"], "sendWindow": bad},
        "sequence { options { sendWindow { start } } }",
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("INVALID_VALUE", field)]
    data = await mail_api.ok(
        "query($id: ID!) { sequence(id: $id) { options { sendWindow { start } } } }",
        {"id": seq["id"]},
    )
    assert data["sequence"]["options"]["sendWindow"] is None


async def _waiting_on_saturday(
    api: Api, engine: Any, clock: MovableClock
) -> tuple[dict[str, Any], str, str, datetime]:
    """A Mon-Fri 08:00-18:00 sequence whose email to a new lead, reached on a Saturday, waits
    for Monday 08:00: (sequence, the lead's address, its connection's id, Monday 08:00)."""
    oslo = ZoneInfo("Europe/Oslo")
    seq = await email_then_task(api)
    await api.mutate(
        "setSequenceOptions", {"sequenceId": seq["id"], "sendWindow": {}}, "sequence { id }"
    )
    saturday = ahead(clock, oslo, 6, time(12, 0))
    move_to(clock, saturday)
    address = await connect_lead(api, seq, time_zone="Europe/Oslo")
    await engine.run_until_idle()
    monday_8 = datetime.combine(saturday.date() + timedelta(days=2), time(8, 0), tzinfo=oslo)
    assert (await stored(api, address))["waitReason"] == "WAITING_FOR_SEND_WINDOW"
    data = await api.ok(
        "query($f: ConnectionFilter) { connections(filter: $f) { nodes { id } } }",
        {"f": {"sequenceId": seq["id"]}},
    )
    return seq, address, data["connections"]["nodes"][0]["id"], monday_8


async def test_a_disconnected_connection_cancels_its_waiting_email(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    seq, address, connection_id, monday_8 = await _waiting_on_saturday(mail_api, mail_engine, clock)
    assert at((await stored(mail_api, address))["nextAttemptAt"]) == monday_8  # {}: Mon-Fri 8-18
    payload = await mail_api.mutate(
        "disconnectSequence",
        {"connectionId": connection_id},
        "connection { status }",
    )
    assert payload["errors"] == []
    message = await stored(mail_api, address)
    assert (message["status"], message["waitReason"], message["nextAttemptAt"]) == (
        "CANCELED",
        None,
        None,
    )
    assert await waiting(mail_api, seq) == (None, [])
    move_to(clock, monday_8 + timedelta(minutes=1))
    await mail_engine.run_until_idle()
    assert inbox.to(address) == []


async def test_an_active_sequence_takes_a_window_but_no_other_option(mail_api: Api) -> None:
    seq = await email_then_task(mail_api)  # active
    selection = "sequence { options { exitOnReply sendWindow { start } } }"
    window = {
        "sequenceId": seq["id"],
        "sendWindow": {"weekdays": [1, 2], "start": "09:00", "end": "17:00"},
    }
    payload = await mail_api.mutate("setSequenceOptions", window, selection)
    assert payload["errors"] == []
    assert payload["sequence"]["options"]["sendWindow"] == {"start": "09:00"}
    for options in ({}, {"exitOnReply": False}):
        payload = await mail_api.mutate(
            "setSequenceOptions", {"sequenceId": seq["id"], **options}, selection
        )
        assert [e["code"] for e in payload["errors"]] == ["SEQUENCE_ACTIVE"], options


async def test_a_record_marked_do_not_email_while_its_email_waits_gets_none(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    _, address, _, monday_8 = await _waiting_on_saturday(mail_api, mail_engine, clock)
    owner_id, _ = await seller(mail_api)
    record = {
        "recordType": "lead",
        "externalId": "L0",
        "name": "Lead 0",
        "ownerUserId": owner_id,
        "fields": {"email": address, "do_not_email": True},
    }
    payload = await mail_api.mutate(
        "upsertRecords", {"records": [record]}, "results { errors { code } }"
    )
    assert payload["errors"] == [] and payload["results"][0]["errors"] == []
    move_to(clock, monday_8 + timedelta(minutes=1))
    await mail_engine.run_until_idle()
    assert inbox.to(address) == []
    message = await stored(mail_api, address)
    assert (message["status"], message["lastError"]) == (
        "CANCELED",
        "The record is marked do not email.",
    )


async def test_a_paused_connections_waiting_email_goes_when_it_resumes(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    """While paused the email waits CONNECTION_PAUSED (until someone resumes it: no time),
    in the outbox, on the connection and in stats; resumed inside its window it goes."""
    seq, address, connection_id, monday_8 = await _waiting_on_saturday(mail_api, mail_engine, clock)
    paused = await mail_api.mutate(
        "pauseConnection", {"connectionId": connection_id}, "connection { status }"
    )
    assert paused["errors"] == [] and paused["connection"]["status"] == "PAUSED"
    message = await stored(mail_api, address)
    assert (message["status"], message["waitReason"], message["nextAttemptAt"]) == (
        "QUEUED",
        "CONNECTION_PAUSED",
        None,
    )
    assert await waiting(mail_api, seq) == (
        {"reason": "CONNECTION_PAUSED", "until": None},
        [{"reason": "CONNECTION_PAUSED", "count": 1}],
    )
    move_to(clock, monday_8 + timedelta(minutes=1))
    await mail_engine.run_until_idle()
    assert inbox.to(address) == []
    assert (await stored(mail_api, address))["status"] == "QUEUED"
    resumed = await mail_api.mutate(
        "resumeConnection", {"connectionId": connection_id}, "connection { status }"
    )
    assert resumed["errors"] == []
    await mail_engine.run_until_idle()
    [received] = inbox.to(address)
    message = await stored(mail_api, address)
    assert (message["status"], message["waitReason"]) == ("SENT", None)
    # Dated when it went, not when its step ran on Saturday.
    assert parsedate_to_datetime(received["Date"]) >= monday_8
    assert await waiting(mail_api, seq) == (None, [])


async def test_a_connection_resumed_at_night_sends_its_email_when_the_window_opens(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    """Paused until Monday 20:00 (after the window): the email waits CONNECTION_PAUSED until
    then, and when the connection resumes it waits for Tuesday 08:00 instead of going."""
    _, address, connection_id, monday_8 = await _waiting_on_saturday(mail_api, mail_engine, clock)
    monday_20 = monday_8.replace(hour=20)
    paused = await mail_api.mutate(
        "pauseConnection",
        {"connectionId": connection_id, "resumeAt": monday_20.isoformat()},
        "connection { status }",
    )
    assert paused["errors"] == []
    message = await stored(mail_api, address)
    assert (message["waitReason"], at(message["nextAttemptAt"])) == (
        "CONNECTION_PAUSED",
        monday_20,
    )
    move_to(clock, monday_20 + timedelta(minutes=1))
    await mail_engine.run_until_idle()
    assert inbox.to(address) == []
    message = await stored(mail_api, address)
    tuesday_8 = monday_8 + timedelta(days=1)
    assert (message["waitReason"], at(message["nextAttemptAt"])) == (
        "WAITING_FOR_SEND_WINDOW",
        tuesday_8,
    )
    move_to(clock, tuesday_8 + timedelta(minutes=1))
    await mail_engine.run_until_idle()
    assert len(inbox.to(address)) == 1


async def test_a_connection_paused_while_its_email_is_sent_keeps_it_waiting_for_the_resume(
    mail_api: Api, mail_engine: Any, clock: MovableClock
) -> None:
    """Claimed, then its connection paused, then the server says "later": the email waits
    CONNECTION_PAUSED for the resume (not RETRYING, which no round would correct)."""
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq, 1)
    await queue_only(mail_engine)
    [job] = await mail_engine.deliverer.claim()
    data = await mail_api.ok(
        "query($f: ConnectionFilter) { connections(filter: $f) { nodes { id } } }",
        {"f": {"sequenceId": seq["id"]}},
    )
    connection_id = data["connections"]["nodes"][0]["id"]
    paused = await mail_api.mutate(
        "pauseConnection", {"connectionId": connection_id}, "connection { status }"
    )
    assert paused["errors"] == []
    await mail_engine.deliverer.finish(job, Failure("421 4.3.2 Try again later"))
    clock.advance(timedelta(hours=1))
    await mail_engine.run_until_idle()
    message = await stored(mail_api, address)
    assert (message["status"], message["waitReason"], message["nextAttemptAt"]) == (
        "QUEUED",
        "CONNECTION_PAUSED",
        None,
    )
    assert await waiting(mail_api, seq) == (
        {"reason": "CONNECTION_PAUSED", "until": None},
        [{"reason": "CONNECTION_PAUSED", "count": 1}],
    )
