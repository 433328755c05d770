"""The states of sequences and their versions, of a connection (a record running in a
sequence; the API's `SequenceTarget`) and of its activities and emails, and the reasons a
connection ends: one vocabulary for the tables, the engine and the API.

A connection runs (CONNECTED or PAUSED) until exactly one thing ends it; it then has an
ending status and a reason. Whatever ends it also closes its open activities (CANCELED,
with the connection's reason) and its queued automated emails. `docs/concepts.md` tells
who ends what.
"""

from __future__ import annotations

from enum import StrEnum


class SequenceStatus(StrEnum):
    """Whether a sequence runs: records are connected only to an ACTIVE one."""

    INACTIVE = "INACTIVE"
    ACTIVE = "ACTIVE"


class VersionStatus(StrEnum):
    """DRAFT is editable; ACTIVE is the current one; RETIRED ran before."""

    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"


class ConnectionStatus(StrEnum):
    CONNECTED = "CONNECTED"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


#: A connection in one of these states is running: it holds the record in its sequence.
RUNNING = (ConnectionStatus.CONNECTED, ConnectionStatus.PAUSED)


class ConnectionPhase(StrEnum):
    """What a running connection waits for at its current step."""

    #: The step is due to run (at `next_run_at`).
    EXECUTE = "EXECUTE"
    #: A wait ends at `next_run_at`; then the step's NEXT follows.
    WAIT = "WAIT"
    #: An open activity: nothing is due until a seller completes or skips it.
    ACTIVITY = "ACTIVITY"
    #: A condition hears engagement events until its time limit at `next_run_at`.
    EVENTS = "EVENTS"


class PauseReason(StrEnum):
    """Why a PAUSED connection is paused."""

    #: Someone paused it (`pauseSequenceTarget`).
    USER = "USER"
    #: The recipient's automatic reply (out of office): it resumes on their return date.
    AUTO_REPLY = "AUTO_REPLY"


class AwayPolicy(StrEnum):
    """What happens to a seller's due activities while they are away (an organization's
    choice); their automated emails wait for their return either way."""

    #: To their delegate (when they named one; else they wait).
    DELEGATE = "DELEGATE"
    #: They wait until the seller is back.
    HOLD = "HOLD"


class ConnectionReason(StrEnum):
    """Why a connection ended (docs/concepts.md has the table of who ends what with which
    status): COMPLETED with SEQUENCE_COMPLETED, DISCONNECTED or ERROR with the others (the
    connection's `error` says more)."""

    SEQUENCE_COMPLETED = "SEQUENCE_COMPLETED"
    USER_DISCONNECTED = "USER_DISCONNECTED"
    PARENT_SEQUENCE_DEACTIVATED = "PARENT_SEQUENCE_DEACTIVATED"
    RECORD_DEACTIVATED = "RECORD_DEACTIVATED"
    EXIT_CRITERION_MET = "EXIT_CRITERION_MET"
    #: A meeting was booked with the prospect (a MEETING_BOOKED event), an exit criterion.
    MEETING_BOOKED = "MEETING_BOOKED"
    #: The record's stage entered one of the sequence's exit stages.
    STAGE_REACHED = "STAGE_REACHED"
    #: One of the sequence's exit field conditions became true for the record.
    FIELD_CONDITION_MET = "FIELD_CONDITION_MET"
    ADVANCED_TO_OTHER_SEQUENCE = "ADVANCED_TO_OTHER_SEQUENCE"
    #: An automated email was due for a record marked "do not email" or a suppressed address.
    OPTED_OUT = "OPTED_OUT"
    #: The recipient used the unsubscribe link of one of the organization's emails.
    UNSUBSCRIBED = "UNSUBSCRIBED"
    #: One of its automated emails bounced hard: the address is suppressed.
    BOUNCED = "BOUNCED"
    #: An automated email was due for a record without an address.
    NO_EMAIL_ADDRESS = "NO_EMAIL_ADDRESS"
    #: The assignment rule named nobody when work had to be assigned.
    NO_ASSIGNEE = "NO_ASSIGNEE"
    #: "Advance to another sequence" was refused by a connect rule (see `error_code`).
    HAND_OVER_REFUSED = "HAND_OVER_REFUSED"
    #: An automated email could not be delivered.
    DELIVERY_FAILED = "DELIVERY_FAILED"
    #: A step could not run: its plugin is missing or failed, or its configuration is bad.
    STEP_FAILED = "STEP_FAILED"


class ActivityStatus(StrEnum):
    OPEN = "OPEN"
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"
    #: Closed because its connection ended; `close_reason` says why.
    CANCELED = "CANCELED"


class OutboxStatus(StrEnum):
    #: To deliver (and being delivered).
    QUEUED = "QUEUED"
    SENT = "SENT"
    #: Delivery gave up.
    FAILED = "FAILED"
    #: Kept in the outbox; no transport is configured.
    STORED = "STORED"
    #: Its connection ended before it went out.
    CANCELED = "CANCELED"


class WaitReason(StrEnum):
    """Why a QUEUED automated email is not sent yet; it goes at its `next_attempt_at`."""

    #: Reached outside its send window (docs/email.md#send-windows): it goes when the window
    #: opens in the recipient's time zone.
    WAITING_FOR_SEND_WINDOW = "WAITING_FOR_SEND_WINDOW"
    #: Over its mailbox's daily or its organization's hourly limit (docs/email.md#throttles):
    #: it goes when the rolling window frees a slot.
    THROTTLED = "THROTTLED"
    #: Its sender (the assignee whose identity it goes out with) is away: it goes when they
    #: are back (docs/email.md#out-of-office-the-seller).
    SENDER_AWAY = "SENDER_AWAY"
    #: Its connection is paused: it goes when the connection resumes (at its `resumeAt`, or
    #: when someone resumes it), inside its send window.
    CONNECTION_PAUSED = "CONNECTION_PAUSED"
    #: An attempt failed (the server was unreachable or refused it for now): it is tried
    #: again after the backoff (docs/email.md#delivery).
    RETRYING = "RETRYING"
