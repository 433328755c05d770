"""core.start, core.task and core.wait."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sekvens.plugins.api import (
    START_STEP_TYPE,
    ActivityKind,
    Branch,
    CreateActivity,
    Done,
    StepCategory,
    WaitFor,
)
from sekvens.plugins.core import start, task, wait
from sekvens.plugins.testing import codes, make_execution_context, make_validation_context, parse


async def test_start_needs_no_config_and_passes_on() -> None:
    assert start.key == START_STEP_TYPE
    assert start.display_name == "Sequence starts here"
    assert (start.category, start.automatic, start.branches) == (
        StepCategory.STEP,
        True,
        (Branch.NEXT,),
    )
    config = parse(start, None)
    assert start.validate(config, make_validation_context(previous_step=None)) == []
    assert await start.execute(make_execution_context(config)) == Done()
    assert codes(start.parse_config({"x": 1})[1]) == [("INVALID_CONFIG", ("x",))]


async def test_task_creates_an_activity() -> None:
    assert task.activity_kind is ActivityKind.TASK
    assert not task.automatic
    config = parse(task, {"subject": "  Schedule a meeting ", "instructions": "Offer two slots."})
    assert task.validate(config, make_validation_context()) == []
    outcome = await task.execute(make_execution_context(config))
    assert outcome == CreateActivity("Schedule a meeting", "Offer two slots.")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, [("REQUIRED", ("subject",))]),
        ({"subject": "   "}, [("INVALID_CONFIG", ("subject",))]),
        ({"subject": "x" * 201}, [("INVALID_CONFIG", ("subject",))]),
        ({"subject": "ok", "instructions": "x" * 4001}, [("INVALID_CONFIG", ("instructions",))]),
    ],
)
def test_task_config_problems(raw: dict[str, object], expected: list[object]) -> None:
    config, problems = task.parse_config(raw)
    assert config is None
    assert codes(problems) == expected


@pytest.mark.parametrize(
    ("raw", "duration"),
    [
        ({"days": 2}, timedelta(days=2)),
        ({"hours": 5}, timedelta(hours=5)),
        ({"days": 1, "hours": 23}, timedelta(days=1, hours=23)),
        ({"days": 30}, timedelta(days=30)),
    ],
)
async def test_wait_waits(raw: dict[str, int], duration: timedelta) -> None:
    config = parse(wait, raw)
    assert wait.validate(config, make_validation_context()) == []
    assert await wait.execute(make_execution_context(config)) == WaitFor(duration)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"days": 31}, [("INVALID_CONFIG", ("days",))]),
        ({"days": -1}, [("INVALID_CONFIG", ("days",))]),
        ({"hours": 24}, [("INVALID_CONFIG", ("hours",))]),
        ({"hours": "soon"}, [("INVALID_CONFIG", ("hours",))]),
    ],
)
def test_wait_config_problems(raw: dict[str, object], expected: list[object]) -> None:
    assert codes(wait.parse_config(raw)[1]) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, [("INVALID_VALUE", ("days",))]),
        ({"days": 0, "hours": 0}, [("INVALID_VALUE", ("days",))]),
        ({"days": 30, "hours": 1}, [("INVALID_VALUE", ("hours",))]),
    ],
)
def test_wait_must_be_more_than_zero_and_at_most_30_days(
    raw: dict[str, int], expected: list[object]
) -> None:
    assert codes(wait.validate(parse(wait, raw), make_validation_context())) == expected
