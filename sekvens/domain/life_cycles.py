"""The states of a connection (a record running in a sequence) and of its activities, and
the reasons a connection ends: one vocabulary for the tables, the engine and the API.

A connection runs (CONNECTED or PAUSED) until exactly one thing ends it; it then has an
ending status and a reason. Whatever ends it also closes its open activities (CANCELED,
with the connection's reason) and its queued automated emails. `docs/concepts.md` tells
who ends what.
"""

from __future__ import annotations

from enum import StrEnum


class ConnectionStatus(StrEnum):
    CONNECTED = "CONNECTED"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


#: A connection in one of these states is running: it holds the record in its sequence.
RUNNING = (ConnectionStatus.CONNECTED, ConnectionStatus.PAUSED)


class ConnectionReason(StrEnum):
    """Why a connection ended. COMPLETED: SEQUENCE_COMPLETED. DISCONNECTED: the first
    eight. ERROR: the rest (the connection's `error` says more)."""

    SEQUENCE_COMPLETED = "SEQUENCE_COMPLETED"
    USER_DISCONNECTED = "USER_DISCONNECTED"
    PARENT_SEQUENCE_DEACTIVATED = "PARENT_SEQUENCE_DEACTIVATED"
    RECORD_DEACTIVATED = "RECORD_DEACTIVATED"
    EXIT_CRITERION_MET = "EXIT_CRITERION_MET"
    ADVANCED_TO_OTHER_SEQUENCE = "ADVANCED_TO_OTHER_SEQUENCE"
    #: An automated email was due for a record marked "do not email" or a suppressed address.
    OPTED_OUT = "OPTED_OUT"
    #: The recipient used the unsubscribe link of one of the organization's emails.
    UNSUBSCRIBED = "UNSUBSCRIBED"
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
