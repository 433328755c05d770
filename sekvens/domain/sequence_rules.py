"""The invariants a sequence version must meet to be activated, beyond each step's plugin."""

from __future__ import annotations

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.sequence_graph import WAIT_TYPE, SequenceGraph

NAME_MAX = 160
DESCRIPTION_MAX = 2000


def check_name(name: str, field: str = "name") -> list[Problem]:
    trimmed = name.strip()
    if not trimmed:
        return [Problem(ErrorCode.REQUIRED, "A sequence needs a name.", (field,))]
    if len(trimmed) > NAME_MAX:
        return [Problem(ErrorCode.TOO_LONG, f"The name is over {NAME_MAX} characters.", (field,))]
    return []


def check_description(description: str | None) -> list[Problem]:
    if description is not None and len(description) > DESCRIPTION_MAX:
        return [
            Problem(
                ErrorCode.TOO_LONG,
                f"The description is over {DESCRIPTION_MAX} characters.",
                ("description",),
            )
        ]
    return []


def graph_problems(graph: SequenceGraph, max_steps: int) -> list[Problem]:
    """Problems of the whole design: no activity, trailing waits, too many steps."""
    problems = []
    start = graph.start.key
    steps = [k for k in graph.steps if k != start]
    if not any(graph.shape(k).activity_kind is not None for k in steps):
        problems.append(
            Problem(
                ErrorCode.NO_ACTIVITY,
                "Add at least one activity (email, call, task or LinkedIn) after the start.",
                ("steps",),
                start,
            )
        )
    for leaf in graph.leaves():
        if graph.steps[leaf].type == WAIT_TYPE:
            name = graph.steps[leaf].name or "Wait"
            problems.append(
                Problem(
                    ErrorCode.ENDS_WITH_WAIT,
                    f"A sequence can't end with a wait: remove '{name}' or add a step after it.",
                    (),
                    leaf,
                )
            )
    if len(steps) > max_steps:
        problems.append(
            Problem(
                ErrorCode.TOO_MANY_STEPS,
                f"A sequence has at most {max_steps} steps; this one has {len(steps)}.",
                ("steps",),
            )
        )
    return problems
