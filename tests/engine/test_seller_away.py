"""A seller's away period through GraphQL with a moved clock (and, for automated email, a real
SMTP server on loopback): under DELEGATE their work goes to the delegate, under HOLD it stays
and says it is held until they are back; their automated emails wait SENDER_AWAY until then
(outbox, connection, stats) and go when they are back or when the period is cleared; bad
periods are refused with a code and change nothing; a seller sets only their own."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from tests.api.sequences_helpers import simple_active
from tests.conftest import Api, MovableClock
from tests.engine.conftest import Inbox, unique_address
from tests.engine.helpers import email_then_task
from tests.engine.test_send_windows import OUTBOX, at, move_to
from tests.engine.test_throttles import waiting_of

AWAY = "user { id isAway away { from until delegate { id } } }"
UP_NEXT = (
    "{ upNext(first: 100) { nodes { id subject record { externalId } assignees { id }"
    " delegatedFrom { id } hold { reason until } } } }"
)


async def person(api: Api, roles: list[str] | None = None) -> tuple[str, Api]:
    """A new user (a salesperson by default): their global id and an Api acting as them."""
    _, token = await api.user(roles or ["SALESPERSON"], email=unique_address("seller"))
    me = api.as_token(token)
    return (await me.ok("{ viewer { user { id } } }"))["viewer"]["user"]["id"], me


async def set_away(
    api: Api, user_id: str, starts: datetime, ends: datetime, delegate_id: str | None = None
) -> dict[str, Any]:
    return await api.mutate(
        "setUserAway",
        {
            "userId": user_id,
            "from": starts.isoformat(),
            "until": ends.isoformat(),
            "delegateId": delegate_id,
        },
        AWAY,
    )


async def connect(api: Api, seq: dict[str, Any], owner_id: str, external_id: str) -> None:
    record = {
        "recordType": "lead",
        "externalId": external_id,
        "name": f"Lead {external_id}",
        "ownerUserId": owner_id,
        "fields": {"first_name": "Ann", "email": unique_address()},
    }
    payload = await api.mutate("upsertRecords", {"records": [record]}, "results { record { id } }")
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": payload["results"][0]["record"]["id"]}]},
        "results { errors { code } }",
    )
    assert connected["errors"] == [] and connected["results"][0]["errors"] == []


async def up_next(api: Api) -> dict[str, dict[str, Any]]:
    nodes = (await api.ok(UP_NEXT))["upNext"]["nodes"]
    return {n["record"]["externalId"]: n for n in nodes}


async def policy(api: Api, value: str) -> None:
    payload = await api.mutate(
        "updateOrganizationSettings", {"awayPolicy": value}, "organization { awayPolicy }"
    )
    assert payload["errors"] == [] and payload["organization"]["awayPolicy"] == value


async def test_under_delegate_an_away_sellers_work_goes_to_the_delegate(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    kari_id, kari = await person(api)
    ola_id, ola = await person(api)
    seq = await simple_active(api, "Delegated work")
    await connect(api, seq, kari_id, "before")
    await engine.run_until_idle()
    assert set(await up_next(kari)) == {"before"}

    ends = clock.now() + timedelta(days=4)
    payload = await set_away(api, kari_id, clock.now() - timedelta(minutes=1), ends, ola_id)
    assert payload["errors"] == []
    assert payload["user"]["isAway"] is True
    assert payload["user"]["away"]["delegate"] == {"id": ola_id}
    assert at(payload["user"]["away"]["until"]) == ends
    await connect(api, seq, kari_id, "during")
    await engine.run_until_idle()

    assert await up_next(kari) == {}
    work = await up_next(ola)
    assert set(work) == {"before", "during"}  # the open one moved, the new one came
    for item in work.values():
        assert item["assignees"] == [{"id": ola_id}]
        assert item["delegatedFrom"] == {"id": kari_id}
        assert item["hold"] is None

    move_to(clock, ends + timedelta(minutes=1))  # back: delegated work stays delegated
    await connect(api, seq, kari_id, "after")
    await engine.run_until_idle()
    assert set(await up_next(ola)) == {"before", "during"}
    after = await up_next(kari)
    assert set(after) == {"after"} and after["after"]["delegatedFrom"] is None
    me = await kari.ok("{ viewer { user { isAway away { until } } } }")
    assert me["viewer"]["user"] == {"isAway": False, "away": None}


async def test_under_hold_the_work_stays_and_waits_until_the_seller_is_back(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    await policy(api, "HOLD")
    kari_id, kari = await person(api)
    ola_id, ola = await person(api)
    seq = await simple_active(api, "Held work")
    ends = clock.now() + timedelta(days=4)
    assert (await set_away(api, kari_id, clock.now(), ends, ola_id))["errors"] == []
    await connect(api, seq, kari_id, "L0")
    await engine.run_until_idle()

    assert await up_next(ola) == {}
    [item] = (await up_next(kari)).values()
    assert item["assignees"] == [{"id": kari_id}] and item["delegatedFrom"] is None
    assert item["hold"]["reason"] == "ASSIGNEE_AWAY" and at(item["hold"]["until"]) == ends
    seen = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Activity { hold { reason until } } } }",
        {"id": item["id"]},
    )
    assert seen["node"]["hold"] == item["hold"]  # a manager sees it held too

    cleared = await api.mutate("clearUserAway", {"userId": kari_id}, AWAY)
    assert cleared["errors"] == [] and cleared["user"]["away"] is None
    assert [i["hold"] for i in (await up_next(kari)).values()] == [None]


async def test_delegate_without_a_delegate_holds(
    api: Api, engine: Any, clock: MovableClock
) -> None:
    kari_id, kari = await person(api)
    seq = await simple_active(api, "No delegate")
    ends = clock.now() + timedelta(days=4)
    assert (await set_away(api, kari_id, clock.now(), ends))["errors"] == []
    await connect(api, seq, kari_id, "L0")
    await engine.run_until_idle()
    [item] = (await up_next(kari)).values()
    assert item["delegatedFrom"] is None and at(item["hold"]["until"]) == ends


async def test_an_away_senders_automated_email_waits_until_they_are_back(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    kari_id, _ = await person(mail_api)
    seq = await email_then_task(mail_api)
    ends = (clock.now() + timedelta(hours=2)).replace(microsecond=0)
    assert (await set_away(mail_api, kari_id, clock.now(), ends))["errors"] == []
    await connect(mail_api, seq, kari_id, "L0")
    await mail_engine.run_until_idle()

    [message] = (await mail_api.ok(OUTBOX))["outbox"]["nodes"]
    assert (message["status"], message["waitReason"], message["attempts"]) == (
        "QUEUED",
        "SENDER_AWAY",
        0,
    )
    assert at(message["nextAttemptAt"]) == at(message["sendAfter"]) == ends
    wait, counts = await waiting_of(mail_api, seq, "L0")
    assert wait == {"reason": "SENDER_AWAY", "until": wait["until"]} and at(wait["until"]) == ends
    assert counts == [{"reason": "SENDER_AWAY", "count": 1}]

    move_to(clock, ends - timedelta(minutes=1))
    await mail_engine.run_until_idle()
    assert inbox.to(message["to"]) == []

    move_to(clock, ends + timedelta(seconds=1))
    await mail_engine.run_until_idle()
    [sent] = inbox.to(message["to"])
    assert parsedate_to_datetime(sent["Date"]) == ends  # dated when they came back
    [message] = (await mail_api.ok(OUTBOX))["outbox"]["nodes"]
    assert (message["status"], message["waitReason"]) == ("SENT", None)
    assert await waiting_of(mail_api, seq, "L0") == (None, [])


async def test_clearing_the_period_releases_held_email(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    kari_id, kari = await person(mail_api)
    seq = await email_then_task(mail_api)
    ends = clock.now() + timedelta(days=2)
    assert (await set_away(mail_api, kari_id, clock.now(), ends))["errors"] == []
    await connect(mail_api, seq, kari_id, "L0")
    await mail_engine.run_until_idle()
    [message] = (await mail_api.ok(OUTBOX))["outbox"]["nodes"]
    assert message["waitReason"] == "SENDER_AWAY" and inbox.to(message["to"]) == []

    later = ends + timedelta(days=1)  # another period: held again, until its end
    assert (await set_away(mail_api, kari_id, clock.now(), later))["errors"] == []
    await mail_engine.run_until_idle()
    [message] = (await mail_api.ok(OUTBOX))["outbox"]["nodes"]
    assert message["waitReason"] == "SENDER_AWAY" and at(message["nextAttemptAt"]) == later
    assert inbox.to(message["to"]) == []

    cleared = await kari.mutate("clearUserAway", {"userId": kari_id}, AWAY)  # their own
    assert cleared["errors"] == [] and cleared["user"]["isAway"] is False
    await mail_engine.run_until_idle()
    assert len(inbox.to(message["to"])) == 1
    [message] = (await mail_api.ok(OUTBOX))["outbox"]["nodes"]
    assert (message["status"], message["waitReason"]) == ("SENT", None)


async def test_an_email_of_a_seller_back_at_night_waits_for_the_send_window(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    window = {"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "18:00"}
    payload = await mail_api.mutate(
        "updateOrganizationSettings", {"sendWindow": window}, "organization { id }"
    )
    assert payload["errors"] == []
    day = (clock.now() + timedelta(days=1)).date()
    move_to(clock, datetime.combine(day, time(10), tzinfo=UTC))  # inside the window
    back = datetime.combine(day, time(22), tzinfo=UTC)  # outside it
    kari_id, _ = await person(mail_api)
    seq = await email_then_task(mail_api)
    assert (await set_away(mail_api, kari_id, clock.now(), back))["errors"] == []
    await connect(mail_api, seq, kari_id, "L0")
    await mail_engine.run_until_idle()
    [message] = (await mail_api.ok(OUTBOX))["outbox"]["nodes"]
    assert message["waitReason"] == "SENDER_AWAY" and at(message["nextAttemptAt"]) == back

    move_to(clock, back + timedelta(seconds=1))
    await mail_engine.run_until_idle()
    opens = datetime.combine(day + timedelta(days=1), time(8), tzinfo=UTC)
    [message] = (await mail_api.ok(OUTBOX))["outbox"]["nodes"]
    assert message["waitReason"] == "WAITING_FOR_SEND_WINDOW"
    assert at(message["nextAttemptAt"]) == opens and inbox.to(message["to"]) == []

    move_to(clock, opens + timedelta(seconds=1))
    await mail_engine.run_until_idle()
    [sent] = inbox.to(message["to"])
    assert parsedate_to_datetime(sent["Date"]) == opens


async def test_bad_away_periods_are_refused_and_change_nothing(
    api: Api, other_api: Api, clock: MovableClock
) -> None:
    kari_id, _ = await person(api)
    ola_id, _ = await person(api)
    gone_id, _ = await person(api)
    busy_id, _ = await person(api)
    stranger_id, _ = await person(other_api)
    deactivated = await api.mutate(
        "updateUser", {"userId": gone_id, "isActive": False}, "user { isActive }"
    )
    assert deactivated["errors"] == []
    now = clock.now()
    assert (await set_away(api, busy_id, now, now + timedelta(days=3)))["errors"] == []
    set_before = await set_away(api, kari_id, now + timedelta(days=10), now + timedelta(days=11))
    assert set_before["errors"] == []
    kept = set_before["user"]["away"]

    cases = [
        ((now, now - timedelta(hours=1), ola_id), "INVALID_VALUE", ["until"]),
        ((now - timedelta(days=2), now - timedelta(days=1), ola_id), "INVALID_VALUE", ["until"]),
        ((now, now + timedelta(days=1), kari_id), "INVALID_VALUE", ["delegateId"]),
        ((now, now + timedelta(days=1), gone_id), "INVALID_VALUE", ["delegateId"]),
        ((now, now + timedelta(days=1), busy_id), "INVALID_VALUE", ["delegateId"]),
        ((now, now + timedelta(days=1), stranger_id), "NOT_FOUND", ["delegateId"]),
        ((now, now + timedelta(days=1), "nonsense"), "NOT_FOUND", ["delegateId"]),
    ]
    for (starts, ends, delegate), code, field in cases:
        payload = await set_away(api, kari_id, starts, ends, delegate)
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)], payload
        assert payload["user"] is None
    payload = await set_away(api, stranger_id, now, now + timedelta(days=1))
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("NOT_FOUND", ["userId"])]
    payload = await api.mutate("clearUserAway", {"userId": stranger_id}, AWAY)
    assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]
    # The busy one's period ends before this one starts: no overlap, so taken.
    later = await set_away(api, ola_id, now + timedelta(days=3), now + timedelta(days=4), busy_id)
    assert later["errors"] == []

    found = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on User { away { from until delegate { id } } } } }",
        {"id": kari_id},
    )
    assert found["node"]["away"] == kept


async def test_a_seller_sets_only_their_own_away_period(api: Api, clock: MovableClock) -> None:
    kari_id, kari = await person(api)
    ola_id, ola = await person(api)
    _, manager = await person(api, ["SALES_MANAGER"])
    now = clock.now()
    mine = await set_away(kari, kari_id, now, now + timedelta(days=1), ola_id)
    assert mine["errors"] == [] and mine["user"]["isAway"] is True
    refused = await set_away(ola, kari_id, now, now + timedelta(days=2))
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("FORBIDDEN", ["userId"])]
    refused = await ola.mutate("clearUserAway", {"userId": kari_id}, AWAY)
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    found = await ola.ok(
        "query($id: ID!) { node(id: $id) { ... on User { away { from until delegate { id } } } } }",
        {"id": kari_id},
    )
    assert found["node"]["away"] == mine["user"]["away"]  # unchanged, and colleagues see it
    by_manager = await set_away(manager, ola_id, now, now + timedelta(days=1))
    assert by_manager["errors"] == []
    refused = await kari.mutate(
        "updateOrganizationSettings", {"awayPolicy": "HOLD"}, "organization { awayPolicy }"
    )
    assert [e["code"] for e in refused["errors"]] == ["FORBIDDEN"]
