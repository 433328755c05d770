"""The invariants a sequence version must meet to be activated, beyond each step's plugin."""

from __future__ import annotations

import unicodedata

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.sequence_graph import WAIT_TYPE, SequenceGraph

NAME_MAX = 160
DESCRIPTION_MAX = 2000
STEP_NAME_MAX = 160
STEP_KEY_MAX = 64

LINE_BREAKS = frozenset("\n\r\t")


def has_control_characters(text: str, allow_breaks: bool = False) -> bool:
    """Control characters (C0, DEL, C1) or lone surrogates; with `allow_breaks`, line breaks
    and tabs are text (descriptions)."""
    return any(
        unicodedata.category(c) in ("Cc", "Cs") and not (allow_breaks and c in LINE_BREAKS)
        for c in text
    )


def _control(field: str, what: str) -> Problem:
    return Problem(ErrorCode.INVALID_VALUE, f"{what} holds control characters.", (field,))


def check_name(name: str, field: str = "name") -> list[Problem]:
    trimmed = name.strip()
    if not trimmed:
        return [Problem(ErrorCode.REQUIRED, "A sequence needs a name.", (field,))]
    if len(trimmed) > NAME_MAX:
        return [Problem(ErrorCode.TOO_LONG, f"The name is over {NAME_MAX} characters.", (field,))]
    if has_control_characters(trimmed):
        return [_control(field, "The name")]
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
    if description is not None and has_control_characters(description, allow_breaks=True):
        return [_control("description", "The description")]
    return []


def check_step_text(
    name: str | None, description: str | None, key: str | None = None
) -> list[Problem]:
    """A step's key (when given by the client), name and description."""
    problems = []
    if key is not None and len(key) > STEP_KEY_MAX:
        problems.append(
            Problem(
                ErrorCode.TOO_LONG, f"Step keys are at most {STEP_KEY_MAX} characters.", ("key",)
            )
        )
    elif key is not None and (has_control_characters(key) or key != key.strip()):
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "A step key holds no control characters and no surrounding spaces.",
                ("key",),
            )
        )
    if name is not None and len(name.strip()) > STEP_NAME_MAX:
        problems.append(
            Problem(
                ErrorCode.TOO_LONG, f"Step names are at most {STEP_NAME_MAX} characters.", ("name",)
            )
        )
    elif name is not None and has_control_characters(name.strip()):
        problems.append(_control("name", "The step's name"))
    return problems + check_description(description)


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
