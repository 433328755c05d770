"""What a seller does to activities, one or many at a time, and the rules it follows.

`request_problems` checks a call's arguments (a problem refuses the whole call);
`activity_problem` checks one activity (a problem refuses that activity alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.life_cycles import ActivityStatus
from sekvens.domain.roles import SUPERVISORS, Actor
from sekvens.domain.steps import ActivityKind


class ActivityAction(StrEnum):
    COMPLETE = "COMPLETE"
    SKIP = "SKIP"
    SNOOZE = "SNOOZE"
    REASSIGN = "REASSIGN"


#: Activities one call acts on at most.
BULK_MAX = 200
NOTES_MAX = 4000
#: An outcome's length at most (what the activities table holds).
OUTCOME_MAX = 100
#: The status an action closes an activity with (the others keep it OPEN).
CLOSES = {
    ActivityAction.COMPLETE: ActivityStatus.COMPLETED,
    ActivityAction.SKIP: ActivityStatus.SKIPPED,
}
#: The arguments each action takes besides the activities.
ARGUMENTS = {
    ActivityAction.COMPLETE: frozenset({"outcome", "notes"}),
    ActivityAction.SKIP: frozenset({"notes"}),
    ActivityAction.SNOOZE: frozenset({"until"}),
    ActivityAction.REASSIGN: frozenset({"userIds"}),
}


#: The result of an activity id that names none in the actor's organization.
NO_SUCH_ACTIVITY = Problem(ErrorCode.NOT_FOUND, "No such activity.", ("activityId",))


@dataclass(frozen=True)
class Work:
    """One action with its arguments, for every activity of a call."""

    action: ActivityAction
    outcome: str | None = None
    notes: str | None = None
    until: datetime | None = None
    user_ids: tuple[int, ...] = ()

    def given(self) -> set[str]:
        values = {
            "outcome": self.outcome,
            "notes": self.notes,
            "until": self.until,
            "userIds": self.user_ids or None,
        }
        return {name for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class ActivityFacts:
    """What the rules look at of one activity."""

    status: str
    kind: str | None
    assignees: frozenset[int]


def request_problems(
    work: Work, activity_ids: Sequence[int | None], now: datetime
) -> list[Problem]:
    """What is wrong with a call as a whole: its list of activities (None: an id that names
    none), or an argument of its action."""
    problems: list[Problem] = []
    if not activity_ids:
        problems.append(
            Problem(ErrorCode.REQUIRED, "Name at least one activity.", ("activityIds",))
        )
    if len(activity_ids) > BULK_MAX:
        problems.append(
            Problem(
                ErrorCode.TOO_MANY, f"At most {BULK_MAX} activities per call.", ("activityIds",)
            )
        )
    seen: set[int] = set()
    for i, pk in enumerate(activity_ids):
        if pk is not None and pk in seen:
            problems.append(
                Problem(
                    ErrorCode.DUPLICATE, "This activity is named twice.", ("activityIds", str(i))
                )
            )
        if pk is not None:
            seen.add(pk)
    for name in sorted(work.given() - ARGUMENTS[work.action]):
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, f"{work.action} takes no {name}.", (name,))
        )
    if work.notes is not None and len(work.notes) > NOTES_MAX:
        problems.append(
            Problem(ErrorCode.TOO_LONG, f"Notes are at most {NOTES_MAX} characters.", ("notes",))
        )
    if work.outcome is not None and len(work.outcome) > OUTCOME_MAX:
        problems.append(
            Problem(
                ErrorCode.TOO_LONG, f"An outcome is at most {OUTCOME_MAX} characters.", ("outcome",)
            )
        )
    if work.action == ActivityAction.SNOOZE:
        if work.until is None:
            problems.append(Problem(ErrorCode.REQUIRED, "Snooze until when?", ("until",)))
        elif work.until <= now:
            problems.append(
                Problem(ErrorCode.INVALID_VALUE, "Snooze to a time in the future.", ("until",))
            )
    if work.action == ActivityAction.REASSIGN and not work.user_ids:
        problems.append(Problem(ErrorCode.REQUIRED, "Name at least one user.", ("userIds",)))
    return problems


def activity_problem(
    actor: Actor, work: Work, activity: ActivityFacts, call_outcomes: Sequence[str]
) -> Problem | None:
    """Why `actor` may not do `work` to an activity of their organization, or None. Its
    assignees and the managers work an activity; only an open one."""
    if actor.user_id not in activity.assignees and not actor.has_any(SUPERVISORS):
        return Problem(
            ErrorCode.FORBIDDEN,
            "Only its assignees, or a SALES_MANAGER, SEQUENCE_MANAGER or SYSTEM_ADMINISTRATOR,"
            " work this activity.",
        )
    if activity.status != ActivityStatus.OPEN:
        return Problem(
            ErrorCode.ACTIVITY_CLOSED,
            f"The activity is closed already ({activity.status}).",
            ("activityId",),
        )
    if work.action == ActivityAction.COMPLETE and activity.kind == ActivityKind.CALL:
        if not work.outcome:
            return Problem(ErrorCode.REQUIRED, "A completed call needs its outcome.", ("outcome",))
        if work.outcome not in call_outcomes:
            return Problem(
                ErrorCode.UNKNOWN_CALL_OUTCOME,
                f"'{work.outcome}' is not a call outcome; use one of: {', '.join(call_outcomes)}.",
                ("outcome",),
            )
    return None
