"""`email.auto` with the sender identity and `reply_in_thread`, on the plugin API's fakes:
what the step hands the mail transport, and the reply rules of `SentMessage` (subject not
doubled, References bounded to the thread's first and latest ids)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sekvens.plugins.api import (
    MAX_REFERENCES,
    MAX_SUBJECT_OUTPUT,
    Done,
    SenderIdentity,
    SentMessage,
)
from sekvens.plugins.email import auto
from sekvens.plugins.testing import FakeMail, make_execution_context, parse

TEMPLATE = {"subject": "Hello {{ first_name }}", "body": "Hi\n{{ sender.signature }}"}
IDENTITY = SenderIdentity("kari@acme.example", "Kari N", "replies@acme.example", "Kari\nAcme")


async def test_the_step_sends_with_the_identity_and_replies_to_the_previous_email() -> None:
    mail = FakeMail()
    config = parse(auto, {"template": TEMPLATE, "reply_in_thread": True})
    for _ in range(2):
        ctx = make_execution_context(
            config, mail=mail, sender="kari@acme.example", sender_identity=IDENTITY
        )
        assert await auto.execute(ctx) == Done()
    first, second = mail.sent
    assert (first.from_address, first.from_name, first.reply_to) == (
        "kari@acme.example",
        "Kari N",
        "replies@acme.example",
    )
    assert first.text == "Hi\nKari\nAcme" and first.subject == "Hello Ada"
    assert dict(first.headers) == {}
    assert second.subject == "Re: Hello Ada"
    assert dict(second.headers) == {"In-Reply-To": "<1@fake>", "References": "<1@fake>"}


async def test_without_reply_in_thread_there_is_no_thread() -> None:
    mail = FakeMail(previous=SentMessage("<0@x>", "Earlier"))
    ctx = make_execution_context(parse(auto, {"template": TEMPLATE}), mail=mail)
    await auto.execute(ctx)
    assert mail.sent[0].subject == "Hello Ada" and dict(mail.sent[0].headers) == {}


def test_a_reply_subject_is_not_doubled_and_fits() -> None:
    assert SentMessage("<1@x>", "RE: Pricing").reply_subject() == "RE: Pricing"
    assert SentMessage("<1@x>", " Pricing ").reply_subject() == "Re: Pricing"
    long = SentMessage("<1@x>", "x" * MAX_SUBJECT_OUTPUT).reply_subject()
    assert len(long) == MAX_SUBJECT_OUTPUT and long.startswith("Re: x")


@given(st.integers(min_value=0, max_value=40))
def test_references_keep_the_first_and_the_latest_ids(n: int) -> None:
    ids = [f"<{i}@x>" for i in range(n)]
    headers = SentMessage(f"<{n}@x>", "s", tuple(ids)).reply_headers()
    chain = [*ids, f"<{n}@x>"]
    kept = headers["References"].split()
    assert headers["In-Reply-To"] == f"<{n}@x>"
    assert len(kept) == min(len(chain), MAX_REFERENCES)
    assert kept[0] == chain[0] and kept[1:] == chain[len(chain) - len(kept) + 1 :]
