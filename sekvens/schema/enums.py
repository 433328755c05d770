"""The domain's vocabulary as GraphQL enums.

Each enum is a `StrEnum` of `sekvens.domain`, registered here once with its GraphQL name and
description, and re-exported under that name: annotate fields with these classes (they are the
domain's own, so a resolver returns domain values as they are, and type checkers see classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import strawberry

from sekvens.domain.activity_actions import ActivityAction
from sekvens.domain.assignment import AssignTo
from sekvens.domain.away import HoldReason
from sekvens.domain.bounces import BounceType
from sekvens.domain.errors import ErrorCode
from sekvens.domain.field_conditions import FieldOperator
from sekvens.domain.life_cycles import (
    ActivityStatus,
    AwayPolicy,
    ConnectionReason,
    ConnectionStatus,
    OutboxStatus,
    PauseReason,
    SequenceStatus,
    VersionStatus,
    WaitReason,
)
from sekvens.domain.records import FieldType
from sekvens.domain.roles import Role
from sekvens.domain.scopes import Scope
from sekvens.domain.steps import ActivityKind, Branch, EventKind, StepCategory
from sekvens.domain.suppression import EmailOptOut, SuppressionSource
from sekvens.domain.teams import TeamKind
from sekvens.domain.transfer import ImportAction, ImportConflictPolicy, ImportMode

__all__ = [
    "ActivityAction",
    "ActivityKind",
    "ActivityStatus",
    "ApiTokenScope",
    "AssignTo",
    "AwayPolicy",
    "BounceType",
    "ConnectionReason",
    "ConnectionStatus",
    "EmailOptOut",
    "ErrorCode",
    "EventKind",
    "FieldOperator",
    "FieldType",
    "HoldReason",
    "ImportAction",
    "ImportConflictPolicy",
    "ImportMode",
    "OutboxStatus",
    "PauseReason",
    "Role",
    "SequenceStatus",
    "StepBranch",
    "StepCategory",
    "SuppressionSource",
    "TeamKind",
    "VersionStatus",
    "WaitReason",
]

#: GraphQL names that differ from the domain's.
StepBranch = Branch
ApiTokenScope = Scope


def _expose(
    cls: type[StrEnum],
    description: str | None = None,
    values: Mapping[StrEnum, str] | None = None,
    name: str | None = None,
) -> None:
    """Register `cls` as the GraphQL enum `name` (default: its class name), with
    descriptions of its `values`."""
    strawberry.enum(cls, name=name or cls.__name__, description=description)
    for value in vars(cls)["__strawberry_definition__"].values:
        value.description = (values or {}).get(value.value)


_expose(ErrorCode, "Stable error codes.")
_expose(Role, "What a user may do.")
_expose(
    Scope,
    "What a token may do, within its user's roles: FULL everything; READ queries "
    "and subscriptions; RECORDS_SYNC upsertRecords; ENGAGEMENT_EVENTS recordEngagementEvents, "
    "recordBounceMessages and recordInboundMessages. "
    "Any token may query `viewer`.",
    name="ApiTokenScope",
)
_expose(TeamKind, "OWNER teams own records and sequences; ACCESS teams collaborate on a record.")
_expose(FieldType)
_expose(StepCategory, "The designer group of a step type.")
_expose(
    Branch,
    "An outgoing path of a step: NEXT for plain steps, YES/NO for conditions.",
    name="StepBranch",
)
_expose(ActivityKind, "The kind of seller activity a step is.")
_expose(EventKind)
_expose(SequenceStatus)
_expose(VersionStatus, "DRAFT is editable; ACTIVE is the current one; RETIRED ran before.")
_expose(AssignTo, "Who works the activities of a connected record.")
_expose(ConnectionStatus)
_expose(
    PauseReason,
    "Why a PAUSED connection is paused.",
    {
        PauseReason.USER: "Someone paused it (pauseConnection).",
        PauseReason.AUTO_REPLY: "The recipient's automatic reply (out of office): it resumes"
        " at resumeAt, their return.",
    },
)
_expose(ConnectionReason, "Why a connection ended (docs/concepts.md lists who ends it how).")
_expose(ActivityStatus)
_expose(
    ActivityAction,
    "What actOnActivities does to each activity.",
    {
        ActivityAction.COMPLETE: "As completeActivity (outcome, notes).",
        ActivityAction.SKIP: "As skipActivity (notes).",
        ActivityAction.SNOOZE: "As snoozeActivity (until).",
        ActivityAction.REASSIGN: "As reassignActivity (userIds).",
    },
)
_expose(
    AwayPolicy,
    "What an away seller's due activities do (their automated emails wait either way).",
    {
        AwayPolicy.DELEGATE: "They go to the seller's delegate (none named: they wait).",
        AwayPolicy.HOLD: "They stay with the seller and wait until they are back.",
    },
)
_expose(HoldReason, "Why an open activity waits.")
_expose(OutboxStatus)
_expose(WaitReason, "Why a queued automated email waits (it goes at the time given with it).")
_expose(
    BounceType,
    "HARD: the address can't take mail (it is suppressed and the connection ends BOUNCED). "
    "SOFT: it may pass later (retried when the SMTP server says so, else only recorded).",
)
_expose(EmailOptOut, "Why a record must not get email.")
_expose(SuppressionSource, "How an address came onto the suppression list.")
_expose(ImportMode, "DRY_RUN writes nothing and reports exactly what APPLY would do.")
_expose(
    ImportConflictPolicy,
    "What to do with a sequence whose key exists here already.",
    {
        ImportConflictPolicy.SKIP: "Leave the sequence here as it is.",
        ImportConflictPolicy.UPDATE: (
            "Replace its steps and properties; an active one gets a draft revision."
        ),
        ImportConflictPolicy.COPY: "Create a copy with a new key.",
    },
)
_expose(ImportAction, "What an import does with one sequence of the document.")
_expose(
    FieldOperator,
    "How a field condition compares a record's field with its value (text ignores case; a"
    " field without a value equals nothing and is neither greater nor less than anything).",
    {
        FieldOperator.IN: "Equals one of the values (a list).",
        FieldOperator.GREATER_THAN: "Number and date fields only.",
        FieldOperator.LESS_THAN: "Number and date fields only.",
        FieldOperator.IS_SET: "Has a value (takes none).",
        FieldOperator.IS_NOT_SET: "Has no value (takes none).",
    },
)
