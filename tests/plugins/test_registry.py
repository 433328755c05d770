"""Loading step types from entry points, and the never-raising calls into plugins."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable
from importlib.metadata import Distribution, EntryPoint
from pathlib import Path
from typing import Any

import pytest

from sekvens.plugins import registry as registry_module
from sekvens.plugins.api import (
    Branch,
    Done,
    EngagementEvent,
    ErrorCode,
    EventKind,
    ExecutionContext,
    Outcome,
    Problem,
    StepCategory,
    StepConfig,
    StepType,
    TakeBranch,
    ValidationContext,
)
from sekvens.plugins.registry import PluginFailure, Registry
from sekvens.plugins.testing import NOW, codes, make_execution_context, make_validation_context


class TitleConfig(StepConfig):
    title: str


class SmsStep(StepType[TitleConfig]):
    key = "sms.send"
    category = StepCategory.STEP
    display_name = "SMS"
    description = "Send a text message."
    config_model = TitleConfig
    automatic = True

    def validate(self, config: TitleConfig, context: ValidationContext) -> list[Problem]:
        if config.title == "bad":
            return [Problem(ErrorCode.INVALID_VALUE, "Bad title.", ("title",))]
        return []

    async def execute(self, ctx: ExecutionContext[TitleConfig]) -> Outcome:
        return Done()


class FaxStep(SmsStep):
    key = "fax.send"


class ConditionStep(SmsStep):
    key = "test.condition"
    category = StepCategory.CONDITION
    branches = (Branch.YES, Branch.NO)


class BrokenStep(SmsStep):
    """Fails in every hook."""

    key = "broken.step"
    branches = (Branch.YES, Branch.NO)

    def validate(self, config: TitleConfig, context: ValidationContext) -> list[Problem]:
        raise RuntimeError("validate exploded")

    async def execute(self, ctx: ExecutionContext[TitleConfig]) -> Outcome:
        raise RuntimeError("execute exploded")

    async def on_event(self, ctx: ExecutionContext[TitleConfig], event: EngagementEvent) -> None:
        raise RuntimeError("on_event exploded")

    async def on_deadline(self, ctx: ExecutionContext[TitleConfig]) -> Outcome:
        raise RuntimeError("on_deadline exploded")


class WrongOutcomeStep(SmsStep):
    key = "wrong.outcome"

    async def execute(self, ctx: ExecutionContext[TitleConfig]) -> Outcome:
        return "done"  # type: ignore[return-value]

    async def on_deadline(self, ctx: ExecutionContext[TitleConfig]) -> Outcome:
        return TakeBranch(Branch.YES)  # not among its branches


class NoCategoryStep(SmsStep):
    key = "no.category"
    category = "STEP"  # type: ignore[assignment]


class NoAutomaticStep(StepType[TitleConfig]):
    key = "no.automatic"
    category = StepCategory.STEP
    display_name = "Incomplete"
    description = "Forgets `automatic` and uses a plain class as config model."
    config_model = dict  # type: ignore[assignment]

    async def execute(self, ctx: ExecutionContext[TitleConfig]) -> Outcome:
        return Done()


class Exploding:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("import-time failure")


sms = SmsStep()
sms_again = SmsStep()
not_a_step = object()
exploding = Exploding()

HERE = __name__


def entry_point(name: str, attr: str, module: str = HERE) -> EntryPoint:
    return EntryPoint(name, f"{module}:{attr}", registry_module.GROUP)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    """The entry points `Registry.from_entry_points` will see."""
    points: list[EntryPoint] = []

    def fake_entry_points(*, group: str) -> Iterable[EntryPoint]:
        return [ep for ep in points if ep.group == group]

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    return points


def distribution(tmp_path: Path, name: str, version: str, lines: list[str]) -> Distribution:
    """An installed-looking distribution whose entry points name objects in this module."""
    info = tmp_path / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[sekvens.step_types]\n" + "\n".join(lines) + "\n")
    return Distribution.at(info)


def test_loads_instances_and_classes_with_providers(
    installed: list[EntryPoint], tmp_path: Path
) -> None:
    dist = distribution(tmp_path, "sekvens-sms", "1.2.0", [f"sms.send = {HERE}:sms"])
    installed.extend(dist.entry_points)
    installed.append(entry_point("fax.send", "FaxStep"))
    installed.append(EntryPoint("other", f"{HERE}:sms", "another.group"))

    registry = Registry.from_entry_points()

    assert [t.key for t in registry.all()] == ["fax.send", "sms.send"]
    assert registry.get("sms.send") is sms
    assert isinstance(registry.get("fax.send"), FaxStep)
    assert registry.provider("sms.send") == ("sekvens-sms", "1.2.0")
    assert registry.provider("fax.send") is None
    assert registry.get("other") is None
    assert registry.load_errors == []


def test_duplicate_key_keeps_the_first_and_logs(
    installed: list[EntryPoint], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dist = distribution(tmp_path, "sekvens-sms", "1.2.0", [f"sms.send = {HERE}:sms"])
    installed.extend(dist.entry_points)
    installed.append(entry_point("sms.send", "sms_again"))

    with caplog.at_level(logging.ERROR, logger="sekvens.plugins"):
        registry = Registry.from_entry_points()

    assert registry.get("sms.send") is sms
    assert len(registry.load_errors) == 1
    assert "already provided by sekvens-sms 1.2.0" in registry.load_errors[0]
    assert "already provided" in caplog.text


@pytest.mark.parametrize(
    ("ep", "expected"),
    [
        (entry_point("x.gone", "sms", module="tests.plugins.no_such_module"), "Could not load"),
        (entry_point("x.missing", "no_such_attribute"), "Could not load"),
        (entry_point("x.explodes", "exploding.step"), "import-time failure"),
        (entry_point("x.object", "not_a_step"), "not a StepType"),
        (entry_point("other.name", "sms"), "differs from the entry-point name"),
        (entry_point("no.category", "NoCategoryStep"), "'category' must be a StepCategory"),
        (entry_point("no.automatic", "NoAutomaticStep"), "'automatic' must be a bool"),
        (entry_point("no.automatic", "NoAutomaticStep"), "'config_model' must be a pydantic"),
    ],
)
def test_broken_entry_points_are_logged_and_skipped(
    installed: list[EntryPoint],
    caplog: pytest.LogCaptureFixture,
    ep: EntryPoint,
    expected: str,
) -> None:
    installed.extend([ep, entry_point("sms.send", "sms")])

    with caplog.at_level(logging.ERROR, logger="sekvens.plugins"):
        registry = Registry.from_entry_points()

    assert [t.key for t in registry.all()] == ["sms.send"]
    assert len(registry.load_errors) == 1
    assert expected in registry.load_errors[0]
    assert ep.name in registry.load_errors[0]
    assert caplog.records and all(r.name == "sekvens.plugins" for r in caplog.records)


def test_disabled_keys_are_not_even_loaded(installed: list[EntryPoint]) -> None:
    installed.extend([entry_point("sms.send", "sms"), entry_point("x.explodes", "exploding.step")])
    registry = Registry.from_entry_points(disabled=["x.explodes", "sms.send"])
    assert registry.all() == []
    assert registry.load_errors == []


def test_other_group() -> None:
    assert Registry.from_entry_points(group="sekvens.tests.nothing-here").all() == []


# --- check_step ----------------------------------------------------------------------------

registry = Registry.of(sms, ConditionStep(), BrokenStep(), WrongOutcomeStep())


def test_check_step_passes_a_valid_step() -> None:
    assert registry.check_step("sms.send", {"title": "Hi"}, make_validation_context()) == []


def test_check_step_reports_unknown_step_type_naming_the_plugin() -> None:
    context = make_validation_context(step_key="s7")
    problems = registry.check_step("whatsapp.send", {}, context)
    assert codes(problems) == [("UNKNOWN_STEP_TYPE", ())]
    assert problems[0].step_key == "s7"
    assert "whatsapp.send" in problems[0].message
    assert "'whatsapp'" in problems[0].message


def test_check_step_reports_parse_then_validate_problems_with_the_step_key() -> None:
    context = make_validation_context(step_key="s2")
    parsed = registry.check_step("sms.send", {}, context)
    assert codes(parsed) == [("REQUIRED", ("title",))]
    validated = registry.check_step("sms.send", {"title": "bad"}, context)
    assert codes(validated) == [("INVALID_VALUE", ("title",))]
    assert {p.step_key for p in parsed + validated} == {"s2"}


def test_exception_inside_validate_is_one_plugin_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="sekvens.plugins"):
        problems = registry.check_step(
            "broken.step", {"title": "Hi"}, make_validation_context(step_key="s3")
        )
    assert codes(problems) == [("PLUGIN_ERROR", ())]
    assert problems[0].step_key == "s3"
    assert "broken.step" in problems[0].message
    assert "broken.step" in caplog.text
    assert "validate exploded" in caplog.text


# --- run_* -----------------------------------------------------------------------------------


def ctx() -> ExecutionContext[Any]:
    return make_execution_context(TitleConfig(title="Hi"))


EVENT = EngagementEvent("e1", EventKind.EMAIL_OPENED, NOW)


async def test_run_execute_returns_the_outcome() -> None:
    assert await registry.run_execute("sms.send", ctx()) == Done()
    assert await registry.run_on_event("sms.send", ctx(), EVENT) is None
    assert await registry.run_on_deadline("test.condition", ctx()) == TakeBranch(Branch.NO)


async def test_run_on_unknown_type_raises_plugin_failure() -> None:
    with pytest.raises(PluginFailure) as info:
        await registry.run_execute("whatsapp.send", ctx())
    assert info.value.code is ErrorCode.UNKNOWN_STEP_TYPE
    assert "whatsapp.send" in info.value.message


@pytest.mark.parametrize("hook", ["execute", "on_event", "on_deadline"])
async def test_plugin_exceptions_become_plugin_failures(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls = {
        "execute": lambda: registry.run_execute("broken.step", ctx()),
        "on_event": lambda: registry.run_on_event("broken.step", ctx(), EVENT),
        "on_deadline": lambda: registry.run_on_deadline("broken.step", ctx()),
    }
    with (
        caplog.at_level(logging.ERROR, logger="sekvens.plugins"),
        pytest.raises(PluginFailure) as info,
    ):
        await calls[hook]()
    assert info.value.code is ErrorCode.PLUGIN_ERROR
    assert f"{hook} exploded" in info.value.message
    assert "broken.step" in caplog.text


async def test_outcomes_are_checked() -> None:
    with pytest.raises(PluginFailure, match="not an outcome"):
        await registry.run_execute("wrong.outcome", ctx())
    with pytest.raises(PluginFailure, match="does not declare"):
        await registry.run_on_deadline("wrong.outcome", ctx())


def test_load_config_parses_or_raises() -> None:
    assert registry.load_config("sms.send", {"title": "Hi"}) == TitleConfig(title="Hi")
    with pytest.raises(PluginFailure) as info:
        registry.load_config("sms.send", {})
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "title" in info.value.message
    with pytest.raises(PluginFailure) as info:
        registry.load_config("whatsapp.send", {})
    assert info.value.code is ErrorCode.UNKNOWN_STEP_TYPE


def test_the_built_ins_registered_in_pyproject_load_cleanly(installed: list[EntryPoint]) -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"][registry_module.GROUP]
    installed.extend(
        EntryPoint(name, value, registry_module.GROUP) for name, value in declared.items()
    )
    registry = Registry.from_entry_points()
    assert registry.load_errors == []
    assert [t.key for t in registry.all()] == sorted(declared)
    for step_type in registry.all():
        assert step_type.config_schema()["type"] == "object"
