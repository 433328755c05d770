"""The words of steps: a step type's designer group, the branches out of a step, the kind of
seller activity a step is, and the engagement events a condition hears.

The plugin contract (`sekvens.plugins.api`) re-exports these; the tables check their columns
against them and the API serves them as enums.
"""

from __future__ import annotations

from enum import StrEnum


class StepCategory(StrEnum):
    """The designer group a step type appears in."""

    STEP = "STEP"
    CONDITION = "CONDITION"
    COMMAND = "COMMAND"
    LINKEDIN = "LINKEDIN"


class Branch(StrEnum):
    """An outgoing path of a step: NEXT for plain steps, YES/NO for conditions."""

    NEXT = "NEXT"
    YES = "YES"
    NO = "NO"


class ActivityKind(StrEnum):
    """What kind of seller activity a step is; conditions check the previous one's kind."""

    EMAIL = "EMAIL"
    CALL = "CALL"
    TASK = "TASK"
    LINKEDIN = "LINKEDIN"


class EventKind(StrEnum):
    """Kinds of engagement events reported for a sent email."""

    EMAIL_DELIVERED = "EMAIL_DELIVERED"
    EMAIL_OPENED = "EMAIL_OPENED"
    EMAIL_REPLIED = "EMAIL_REPLIED"
    LINK_CLICKED = "LINK_CLICKED"
    ATTACHMENT_DOWNLOADED = "ATTACHMENT_DOWNLOADED"
    EMAIL_BOUNCED = "EMAIL_BOUNCED"
    #: An automatic answer (out of office, vacation): never a reply for conditions or the
    #: exit criterion; it pauses the connection until the recipient is back.
    EMAIL_AUTO_REPLY = "EMAIL_AUTO_REPLY"
    #: The prospect booked a meeting (reported by a CRM or a scheduling tool): an exit
    #: criterion of its own.
    MEETING_BOOKED = "MEETING_BOOKED"
