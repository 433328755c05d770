"""The timeline preview (`sequencePreview`, docs/preview.md) against the engine, through GraphQL.

The same record is previewed and then connected to the same sequence at the same start, on
an app of this module's own whose clock stands still until the test moves it. The test then
runs the engine as a seller would meet it: the clock moves to the next thing due (an
activity's due time, the end of a wait or time limit, an email's send time), activities are
completed when due, and the email is opened (YES) or not (NO). Every time the engine produced
(when each activity was reached and due, when the email went out, when each wait ended, when
the connection ended) must be the preview's, on the path taken: across a weekend, a holiday,
a send window and waits, and for random starts, working hours, time zones and holidays.

The app has a database of its own (so its far-future clock runs no other test's work) and
sends through the loopback SMTP server, so an email waits for its window and `sentAt` is when
it went.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.domain.global_ids import to_global_id
from sekvens.storage import migrate
from sekvens.storage.db import Database
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import (
    POSTGRES_URL,
    Api,
    create_postgres_database,
    drop_postgres_database,
    new_org,
)
from tests.engine.conftest import Inbox, unique_address

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
OSLO, NEW_YORK = ZoneInfo("Europe/Oslo"), ZoneInfo("America/New_York")
AUTO = {"template": {"subject": "Hi {{ first_name }}", "body": "Hello {{ first_name }}!"}}
WEEKDAYS = {"weekdays": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"}

PREVIEW = """
query($s: ID!, $r: ID!, $at: DateTime, $draft: Boolean! = false) {
  sequencePreview(sequenceId: $s, recordId: $r, startAt: $at, draft: $draft) {
    startsAt version versionStatus timeZone skipNonWorkingTime recipientTimeZone
    sendWindow { weekdays start end } assignee { id } sequence { id } record { id }
    steps {
      key stepId type name kind category parentKey branch depth
      reachedAt dueAt sendAt waitUntil ends note assumes problem { code stepKey }
      branches { branch startsAt nextKey assumes expected possible }
    }
    paths { choices stepKeys endsAt ending possible unsentStepKeys }
  }
}"""
CONNECTION = """
query($f: ConnectionFilter) { connections(filter: $f) { nodes {
  id status reason currentStepKey nextRunAt endedAt
  activities { id stepKey kind status proposedDueAt dueAt }
} } }"""
OUTBOX = "{ outbox(first: 100) { nodes { to messageId status nextAttemptAt sentAt } } }"


class StillClock:
    """A clock that stands still until it is set."""

    def __init__(self) -> None:
        self.at = datetime(2031, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)


@pytest.fixture(scope="session")
async def preview_db(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """A migrated database of this module's own, on the backend of `database_url`."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('preview') / 'preview.db'}"
    else:
        assert POSTGRES_URL
        url = await create_postgres_database(POSTGRES_URL)
    database = Database(Settings(database_url=url))
    await migrate.upgrade(database.engine)
    yield database
    await database.dispose()
    if not database_url.startswith("sqlite"):
        assert POSTGRES_URL
        await drop_postgres_database(POSTGRES_URL, url)


@pytest.fixture(scope="session")
def still() -> StillClock:
    return StillClock()


@dataclass
class World:
    """This module's app: its HTTP client, its engine and its database."""

    http: httpx.AsyncClient
    engine: Any
    db: Database

    async def org(self) -> Api:
        return await new_org(self.http, self.db)


@pytest.fixture(scope="session")
async def world(
    preview_db: Database, still: StillClock, smtp_server: Inbox
) -> AsyncIterator[World]:
    settings_ = Settings(
        database_url=preview_db.settings.database_url,
        smtp_url=f"smtp://127.0.0.1:{smtp_server.port}?starttls=off",
        mail_from="robot@sekvens.test",
        smtp_timeout_seconds=10,
        mailbox_send_interval_seconds=0,
    )
    app = create_app(settings_, preview_db, clock=still)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as client:
        yield World(client, app.state.services.engine, preview_db)


# --- Building --------------------------------------------------------------------------------


async def seller(api: Api, zone: str, hours: list[dict[str, Any]] | None = None) -> str:
    """A salesperson in `zone` with working `hours` (None: the default); their global id."""
    pk, _ = await api.user(["SALESPERSON"], email=unique_address("seller"))
    user_id = to_global_id("User", pk)
    change: dict[str, Any] = {"userId": user_id, "timeZone": zone}
    if hours is not None:
        change["workingHours"] = hours
    payload = await api.mutate("updateUser", change, "user { id }")
    assert payload["errors"] == [], payload
    return user_id


async def build(
    api: Api, window: dict[str, Any] | None = WEEKDAYS, skip: bool = True
) -> tuple[dict[str, Any], dict[str, str]]:
    """START -> task -> wait 1 day 2 hours -> automated email -> opened? (1 day) ->
    YES: call / NO: wait 2 hours -> manual email; activated. Returns it and its keys."""
    seq = await create(api, "Preview")
    task = (await add(api, seq, start_id(seq), "core.task", {"subject": "Prepare"}))["step"]
    wait = (await add(api, seq, task["id"], "core.wait", {"days": 1, "hours": 2}))["step"]
    mail = (await add(api, seq, wait["id"], "email.auto", AUTO))["step"]
    opened = {"events": ["OPENED"], "days": 1}
    cond = (await add(api, seq, mail["id"], "email.condition", opened))["step"]
    call = (await add(api, seq, cond["id"], "call.phone", {}, branch="YES"))["step"]
    pause = (await add(api, seq, cond["id"], "core.wait", {"hours": 2}, branch="NO"))["step"]
    manual = (await add(api, seq, pause["id"], "email.manual", {}))["step"]
    options = {"sequenceId": seq["id"], "sendWindow": window, "skipNonWorkingTime": skip}
    payload = await api.mutate("setSequenceOptions", options, "sequence { id }")
    assert payload["errors"] == [], payload
    payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert payload["errors"] == [], payload
    steps = (task, wait, mail, cond, call, pause, manual)
    names = ("task", "wait", "mail", "cond", "call", "pause", "manual")
    keys = {name: s["key"] for name, s in zip(names, steps, strict=True)}
    keys["start"] = next(s["key"] for s in seq["steps"] if s["type"] == "core.start")
    return seq, keys


async def lead(api: Api, owner_id: str, record_type: str = "lead", **fields: Any) -> str:
    record = {
        "recordType": record_type,
        "externalId": uuid.uuid4().hex[:12],
        "name": "Ann Lee",
        "ownerUserId": owner_id,
        "fields": {"first_name": "Ann", "email": unique_address(), **fields},
    }
    payload = await api.mutate(
        "upsertRecords", {"records": [record]}, "results { record { id } errors { code } }"
    )
    [result] = payload["results"]
    assert result["errors"] == [], result
    return str(result["record"]["id"])


async def preview(
    api: Api, seq_id: str, record_id: str, at: datetime | None = None, draft: bool = False
) -> dict[str, Any]:
    variables = {
        "s": seq_id,
        "r": record_id,
        "at": at.isoformat() if at else None,
        "draft": draft,
    }
    return dict((await api.ok(PREVIEW, variables))["sequencePreview"])


# --- Running the engine as a seller meets it -----------------------------------------------------


def t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def drive(
    api: Api,
    engine: Any,
    clock: StillClock,
    seq_id: str,
    record_id: str,
    start: datetime,
    yes: bool,
) -> dict[str, Any]:
    """Connect the record at `start` and run the engine until the connection ends: each
    time, the clock moves to the next thing due and the engine runs; an open activity is
    completed when due (a call "Connected"); while the condition waits, the email is opened
    (`yes`) at the time of its sending. Returns what the engine produced: per step key the
    activity's `reached` and `due`, the email's `sent`, a wait's `until`; and the `end`."""
    payload = await api.mutate(
        "connectSequence",
        {"sequenceId": seq_id, "records": [{"id": record_id}], "startAt": start.isoformat()},
        "results { errors { code } }",
    )
    assert payload["results"][0]["errors"] == [], payload
    seen: dict[str, dict[str, datetime | None]] = {}
    opened = False
    for _ in range(40):
        [conn] = (await api.ok(CONNECTION, {"f": {"sequenceId": seq_id}}))["connections"]["nodes"]
        for a in conn["activities"]:
            seen.setdefault(a["stepKey"], {}).update(
                reached=t(a["proposedDueAt"]), due=t(a["dueAt"])
            )
        [message] = (await api.ok(OUTBOX))["outbox"]["nodes"] or [None]
        if message and message["status"] == "SENT":
            sent = t(message["sentAt"])
            seen.setdefault("email", {})["sent"] = sent
            if yes and not opened:
                event = {
                    "eventId": uuid.uuid4().hex,
                    "kind": "EMAIL_OPENED",
                    "messageId": message["messageId"],
                    "occurredAt": clock.now().isoformat(),
                }
                done = await api.mutate(
                    "recordEngagementEvents", {"events": [event]}, "results { errors { code } }"
                )
                assert done["results"][0]["errors"] == [], done
                opened = True
        if conn["status"] != "CONNECTED":
            if message and message["status"] == "QUEUED":  # a completed one lets it go
                clock.set(max(t(message["nextAttemptAt"]) or clock.now(), clock.now()))
                await engine.run_until_idle()
                continue
            if message:
                seen.setdefault("email", {})["status"] = message["status"]
            return {**seen, "end": {"at": t(conn["endedAt"]), "reason": conn["reason"]}}
        candidates: list[datetime] = []
        open_ = [a for a in conn["activities"] if a["status"] == "OPEN"]
        if conn["nextRunAt"]:
            until = t(conn["nextRunAt"])
            assert until is not None
            if conn["currentStepKey"] and not open_:
                seen.setdefault(conn["currentStepKey"], {})["until"] = until
            candidates.append(until)
        if message and message["status"] == "QUEUED":
            candidates.append(t(message["nextAttemptAt"]) or clock.now())
        due = [d for a in open_ if (d := t(a["dueAt"])) is not None]
        if due and (not candidates or min(due) <= min(candidates)):
            clock.set(max(min(due), clock.now()))
            [activity] = open_
            outcome = "Connected" if activity["kind"] == "CALL" else None
            done = await api.mutate(
                "completeActivity",
                {"activityId": activity["id"], "outcome": outcome},
                "activity { status }",
            )
            assert done["errors"] == [], done
        else:
            assert candidates, conn
            clock.set(max(min(candidates), clock.now()))
        await engine.run_until_idle()
    raise AssertionError("the connection did not end")


def compare(plan: dict[str, Any], ran: dict[str, Any], choice: str) -> None:
    """The engine's times on the path taken are the preview's."""
    [path] = [p for p in plan["paths"] if p["choices"] == [choice]]
    steps = {s["key"]: s for s in plan["steps"]}
    for key in path["stepKeys"]:
        step = steps[key]
        if step["dueAt"] is not None or step["type"] == "email.auto":
            assert key in ran, (step, ran)
            assert ran[key]["reached"] == t(step["reachedAt"]), (step, ran[key])
            expected_due = t(step["dueAt"]) or t(step["reachedAt"])
            assert ran[key]["due"] == expected_due, (step, ran[key])
        if step["sendAt"] is not None and key in path["unsentStepKeys"]:
            assert ran["email"]["status"] == "CANCELED", (step, ran["email"])
        elif step["sendAt"] is not None:
            assert ran["email"]["sent"] == t(step["sendAt"]), (step, ran["email"])
        if step["waitUntil"] is not None:
            assert ran[key]["until"] == t(step["waitUntil"]), (step, ran[key])
    assert ran["end"] == {"at": t(path["endsAt"]), "reason": path["ending"]}, (path, ran["end"])


# --- Preview and engine agree ----------------------------------------------------------------------


def a_friday(after: date) -> date:
    return after + timedelta(days=(4 - after.weekday()) % 7 or 7)


@pytest.mark.parametrize("choice", ["YES", "NO"])
async def test_preview_and_engine_agree_across_a_weekend_a_holiday_a_send_window_and_waits(
    world: World, still: StillClock, choice: str
) -> None:
    api, engine = await world.org(), world.engine
    friday = a_friday(still.now().astimezone(OSLO).date() + timedelta(days=7))
    monday = friday + timedelta(days=3)
    settings_ = {"holidays": [monday.isoformat()], "defaultTimeZone": "Europe/Oslo"}
    payload = await api.mutate("updateOrganizationSettings", settings_, "organization { id }")
    assert payload["errors"] == []
    owner = await seller(api, "Europe/Oslo")
    seq, keys = await build(api)
    record = await lead(api, owner, time_zone="America/New_York")
    start = datetime.combine(friday, time(16, 30), OSLO)
    still.set(start - timedelta(days=2))

    plan = await preview(api, seq["id"], record, start)

    # Friday 16:30 Oslo: the task is due at once, done when due; 1 day 2 hours of working
    # time skips the weekend and Monday's holiday: Tuesday 16:30, + 2 h = Wednesday 10:30.
    # The email is reached then, 04:30 in New York, and goes when the window opens at 08:00
    # there (14:00 in Oslo). The time limit of 1 working day ends Thursday 10:30.
    tuesday, wednesday, thursday = (monday + timedelta(days=n) for n in (1, 2, 3))
    steps = {s["key"]: s for s in plan["steps"]}
    assert plan["startsAt"] == start.isoformat() or t(plan["startsAt"]) == start
    assert (plan["timeZone"], plan["recipientTimeZone"]) == ("Europe/Oslo", "America/New_York")
    assert plan["assignee"] == {"id": owner} and plan["versionStatus"] == "ACTIVE"
    assert t(steps[keys["task"]]["dueAt"]) == start
    assert steps[keys["task"]]["assumes"] == ["the activity is completed when it is due"]
    assert t(steps[keys["wait"]]["waitUntil"]) == datetime.combine(wednesday, time(10, 30), OSLO)
    mail = steps[keys["mail"]]
    assert t(mail["reachedAt"]) == datetime.combine(wednesday, time(10, 30), OSLO)
    assert t(mail["sendAt"]) == datetime.combine(wednesday, time(8, 0), NEW_YORK)
    cond = steps[keys["cond"]]
    limit = datetime.combine(thursday, time(10, 30), OSLO)
    assert t(cond["waitUntil"]) == limit
    assert [(b["branch"], t(b["startsAt"]), b["nextKey"]) for b in cond["branches"]] == [
        ("YES", limit, keys["call"]),
        ("NO", limit, keys["pause"]),
    ]
    assert cond["branches"][0]["assumes"] == "the recipient opens the email within 1 day"
    assert t(steps[keys["call"]]["dueAt"]) == limit
    assert t(steps[keys["manual"]]["dueAt"]) == datetime.combine(thursday, time(12, 30), OSLO)
    assert [(p["choices"], p["ending"]) for p in plan["paths"]] == [
        (["YES"], "SEQUENCE_COMPLETED"),
        (["NO"], "SEQUENCE_COMPLETED"),
    ]
    assert [s["key"] for s in plan["steps"]] == [
        keys[n] for n in ("start", "task", "wait", "mail", "cond", "call", "pause", "manual")
    ]
    assert tuesday.weekday() == 1

    ran = await drive(api, engine, still, seq["id"], record, start, yes=choice == "YES")
    compare(plan, ran, choice)


ZONES = ("Europe/Oslo", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC")
WINDOWS = (None, WEEKDAYS, {"weekdays": [2, 4, 6], "start": "10:00", "end": "12:30"})


@st.composite
def working_hours(draw: st.DrawFn) -> list[dict[str, Any]]:
    days = draw(st.sets(st.integers(1, 7), min_size=1, max_size=7))
    start = draw(st.integers(0, 20))
    end = draw(st.integers(start + 1, 24))
    return [
        {"weekday": d, "start": f"{start:02d}:00", "end": f"{end:02d}:00" if end < 24 else "23:59"}
        for d in sorted(days)
    ]


@given(
    start=st.datetimes(
        min_value=datetime(2032, 1, 1), max_value=datetime(2033, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    recipient=st.sampled_from(ZONES),
    hours=working_hours(),
    holidays=st.lists(st.integers(0, 12), max_size=3),
    window=st.sampled_from(WINDOWS),
    skip=st.booleans(),
    yes=st.booleans(),
)
@settings(
    max_examples=12 * SCALE,
    deadline=None,
    database=None,
    derandomize=SCALE == 1,
    phases=[Phase.explicit, Phase.generate],  # an example runs the engine: no shrinking
    suppress_health_check=[HealthCheck.too_slow],
)
async def test_preview_and_engine_agree_for_any_start_and_calendar(
    world: World,
    still: StillClock,
    start: datetime,
    zone: str,
    recipient: str,
    hours: list[dict[str, Any]],
    holidays: list[int],
    window: dict[str, Any] | None,
    skip: bool,
    yes: bool,
) -> None:
    api, engine = await world.org(), world.engine
    start = start.replace(microsecond=0)
    days_off = sorted(
        {(start + timedelta(days=n)).astimezone(ZoneInfo(zone)).date() for n in holidays}
    )
    settings_ = {"holidays": [d.isoformat() for d in days_off], "defaultTimeZone": zone}
    payload = await api.mutate("updateOrganizationSettings", settings_, "organization { id }")
    assert payload["errors"] == [], payload
    owner = await seller(api, zone, hours)
    seq, _ = await build(api, window, skip)
    record = await lead(api, owner, time_zone=recipient)
    still.set(start - timedelta(hours=5))

    plan = await preview(api, seq["id"], record, start)
    assert t(plan["startsAt"]) == start
    ran = await drive(api, engine, still, seq["id"], record, start, yes)
    # Opened only once sent: when the email goes out after the time limit, YES is impossible.
    [possible] = [p["possible"] for p in plan["paths"] if p["choices"] == ["YES"]]
    compare(plan, ran, "YES" if yes and possible else "NO")


# --- What the preview says beyond times ---------------------------------------------------------------


async def test_a_draft_previews_the_version_activation_would_use_and_a_revision_on_request(
    world: World, still: StillClock
) -> None:
    api = await world.org()
    owner = await seller(api, "UTC")
    record = await lead(api, owner)
    draft = await create(api, "Not active yet")
    await add(api, draft, start_id(draft), "core.task", {"subject": "Call them"})
    plan = await preview(api, draft["id"], record)
    assert (plan["version"], plan["versionStatus"]) == (1, "DRAFT")
    assert t(plan["startsAt"]) == still.now()  # no startAt: now
    assert [(s["type"], s["name"]) for s in plan["steps"]] == [
        ("core.start", "Sequence starts here"),
        ("core.task", "Task"),
    ]
    assert plan["steps"][1]["kind"] == "TASK" and plan["steps"][1]["category"] == "STEP"

    seq, keys = await build(api, window=None, skip=False)
    revised = await api.mutate(
        "createSequenceRevision", {"sequenceId": seq["id"]}, "sequence { steps { id key } }"
    )
    assert revised["errors"] == [], revised
    [task] = [s for s in revised["sequence"]["steps"] if s["key"] == keys["task"]]
    removed = await api.mutate("removeStep", {"stepId": task["id"]}, "sequence { id }")
    assert removed["errors"] == [], removed
    past = still.now() - timedelta(days=3)
    current = await preview(api, seq["id"], record, past)
    assert t(current["startsAt"]) == still.now()  # a start in the past: now, as connecting
    assert (current["version"], current["versionStatus"]) == (1, "ACTIVE")
    assert keys["task"] in {s["key"] for s in current["steps"]}
    revision = await preview(api, seq["id"], record, draft=True)
    assert (revision["version"], revision["versionStatus"]) == (2, "DRAFT")
    assert keys["task"] not in {s["key"] for s in revision["steps"]}
    # Without skipping non-working time, waits are plain elapsed time.
    steps = {s["key"]: s for s in current["steps"]}
    assert t(steps[keys["wait"]]["waitUntil"]) == still.now() + timedelta(days=1, hours=2)


async def test_commands_say_which_branch_the_record_takes_now_and_endings_are_named(
    world: World, still: StillClock
) -> None:
    api = await world.org()
    owner = await seller(api, "UTC")
    seq = await create(api, "Commands")
    rules = {"groups": [{"rules": [{"field": "first_name", "operator": "EQUALS", "value": "Ann"}]}]}
    check = (await add(api, seq, start_id(seq), "commands.field_condition", rules))["step"]
    await add(api, seq, check["id"], "email.auto", AUTO, branch="YES")
    await add(api, seq, check["id"], "core.task", {"subject": "Other"}, branch="NO")
    with_address = await lead(api, owner)
    without = await lead(api, owner, email=None)

    plan = await preview(api, seq["id"], with_address)
    [check_step] = [s for s in plan["steps"] if s["type"] == "commands.field_condition"]
    assert [(b["branch"], b["expected"]) for b in check_step["branches"]] == [
        ("YES", True),
        ("NO", False),
    ]
    [mail] = [s for s in plan["steps"] if s["type"] == "email.auto"]
    assert mail["sendAt"] == mail["reachedAt"] and mail["ends"] is None  # no window

    plan = await preview(api, seq["id"], without)
    [mail] = [s for s in plan["steps"] if s["type"] == "email.auto"]
    assert (mail["ends"], mail["sendAt"], mail["branches"]) == ("NO_EMAIL_ADDRESS", None, [])
    assert "no email address" in mail["note"]
    assert [p["ending"] for p in plan["paths"]] == ["NO_EMAIL_ADDRESS", "SEQUENCE_COMPLETED"]

    marked = await lead(api, owner, do_not_email=True)
    plan = await preview(api, seq["id"], marked)
    [mail] = [s for s in plan["steps"] if s["type"] == "email.auto"]
    assert (mail["ends"], mail["sendAt"]) == ("OPTED_OUT", None)

    # Handed over while its email waits for the window: ending the connection cancels it.
    target, _ = await build(api, window=None)
    handing = await create(api, "Hand over")
    mail = (await add(api, handing, start_id(handing), "email.auto", AUTO))["step"]
    advance = {"sequence": target["id"]}
    await add(api, handing, mail["id"], "commands.advance_to_sequence", advance)
    night = {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "00:01"}
    options = {"sequenceId": handing["id"], "sendWindow": night}
    assert (await api.mutate("setSequenceOptions", options, "sequence { id }"))["errors"] == []
    noon = datetime.combine(still.now().date() + timedelta(days=2), time(12), UTC)
    plan = await preview(api, handing["id"], with_address, noon)
    [path] = plan["paths"]
    assert (path["ending"], path["unsentStepKeys"]) == ("ADVANCED_TO_OTHER_SEQUENCE", [mail["key"]])
    assert t(plan["steps"][1]["sendAt"]) == noon + timedelta(hours=12)
    assert "handed over" in plan["steps"][2]["note"]


# --- Refusals ---------------------------------------------------------------------------------------------


def error_of(body: dict[str, Any]) -> tuple[str, list[str] | None]:
    [error] = body["errors"]
    return error["extensions"]["code"], error["extensions"].get("field")


async def test_unknown_sequence_or_record_and_another_record_type_are_refused(
    world: World,
) -> None:
    api = await world.org()
    other = await world.org()
    owner = await seller(api, "UTC")
    seq, _ = await build(api, window=None)
    record = await lead(api, owner)
    contact = await lead(api, owner, record_type="contact")
    foreign = await lead(other, await seller(other, "UTC"))
    cases = [
        (to_global_id("Sequence", 10**9), record, ("NOT_FOUND", ["sequenceId"])),
        ("not-an-id", record, ("NOT_FOUND", ["sequenceId"])),
        (seq["id"], to_global_id("Record", 10**9), ("NOT_FOUND", ["recordId"])),
        (seq["id"], seq["id"], ("NOT_FOUND", ["recordId"])),
        (seq["id"], foreign, ("NOT_FOUND", ["recordId"])),
        (seq["id"], contact, ("WRONG_RECORD_TYPE", ["recordId"])),
    ]
    for seq_id, record_id, expected in cases:
        body = await api.gql(PREVIEW, {"s": seq_id, "r": record_id})
        assert body["data"] is None and error_of(body) == expected, (seq_id, record_id, body)
    # Organization B's administrator: A's sequence does not exist for them.
    body = await other.gql(PREVIEW, {"s": seq["id"], "r": foreign})
    assert error_of(body) == ("NOT_FOUND", ["sequenceId"])
    body = await api.gql(PREVIEW, {"s": seq["id"], "r": record, "at": "2031-01-01T09:00:00"})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_VALUE"  # no UTC offset
    # A start whose waits end past the calendar's last day, in calendar time as in working time.
    for skip in (True, False):
        late, _ = await build(api, window=None, skip=skip)
        at = "9999-12-30T12:00:00+00:00"
        body = await api.gql(PREVIEW, {"s": late["id"], "r": record, "at": at})
        assert body["errors"][0]["extensions"]["code"] == "INVALID_VALUE", (skip, body)


async def test_a_salesperson_previews_only_records_they_may_connect(
    world: World,
) -> None:
    api = await world.org()
    seq, _ = await build(api, window=None)
    pk, token = await api.user(["SALESPERSON"], email=unique_address("seller"))
    me = to_global_id("User", pk)
    mine = await lead(api, me)
    theirs = await lead(api, await seller(api, "UTC"))
    seller_api = api.as_token(token)
    plan = await preview(seller_api, seq["id"], mine)
    assert plan["assignee"] == {"id": me}
    body = await seller_api.gql(PREVIEW, {"s": seq["id"], "r": theirs})
    assert error_of(body) == ("FORBIDDEN", ["recordId"])
    connected = await seller_api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": theirs}]},
        "results { errors { code } }",
    )
    assert connected["results"][0]["errors"] == [{"code": "FORBIDDEN"}]  # the same rule
    anonymous = await api.gql(PREVIEW, {"s": seq["id"], "r": mine}, token=None)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
