"""The installed step types, loaded from entry points, and never-raising calls into them.

Everything a plugin does (parsing and validating configs, executing) goes through a `Registry`
so that a broken or missing plugin becomes a problem or a `PluginFailure`, never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from sekvens.domain.sequence_graph import SequenceGraph, StepShape
from sekvens.plugins.api import (
    ActivityKind,
    Branch,
    Done,
    EngagementEvent,
    ErrorCode,
    ExecutionContext,
    Outcome,
    Problem,
    RecipientOptedOut,
    RecordChange,
    StepCategory,
    StepRef,
    StepType,
    TakeBranch,
    ValidationContext,
)

log = logging.getLogger("sekvens.plugins")

GROUP = "sekvens.step_types"


class PluginFailure(Exception):
    """A step could not run: its type is not installed, or its plugin failed."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _malformed(step_type: StepType[Any]) -> list[str]:
    """What is wrong with the declared attributes of `step_type`."""
    expected: dict[str, Any] = {
        "key": str,
        "category": StepCategory,
        "display_name": str,
        "description": str,
        "version": str,
        "branches": tuple,
        "automatic": bool,
    }
    wrong = [
        f"'{name}' must be a {kind.__name__}"
        for name, kind in expected.items()
        if not isinstance(getattr(step_type, name, None), kind)
    ]
    if isinstance(getattr(step_type, "key", None), str) and not step_type.key.strip():
        wrong.append("'key' must not be empty")
    model = getattr(step_type, "config_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        wrong.append("'config_model' must be a pydantic model class")
    branches = getattr(step_type, "branches", ())
    if isinstance(branches, tuple) and not all(isinstance(b, Branch) for b in branches):
        wrong.append("'branches' must hold Branch values")
    kind = getattr(step_type, "activity_kind", None)
    if kind is not None and not isinstance(kind, ActivityKind):
        wrong.append("'activity_kind' must be an ActivityKind or None")
    return wrong


def _describe(step_type: StepType[Any], provider: tuple[str, str] | None) -> str:
    by = f" from {provider[0]} {provider[1]}" if provider else ""
    return f"step type '{step_type.key}'{by}"


class Registry:
    """Step types by key, with the distribution that provides each one."""

    def __init__(self) -> None:
        self._types: dict[str, StepType[Any]] = {}
        self._providers: dict[str, tuple[str, str]] = {}
        self.load_errors: list[str] = []

    @classmethod
    def of(cls, *step_types: StepType[Any]) -> Registry:
        """A registry of the given step types (no providers); for tests."""
        registry = cls()
        for step_type in step_types:
            registry._types[step_type.key] = step_type
        return registry

    @classmethod
    def from_entry_points(cls, group: str = GROUP, disabled: Iterable[str] = ()) -> Registry:
        """Load every step type registered under `group`, except the `disabled` keys.

        Each entry point must name a `StepType` instance (or a subclass, which is instantiated)
        whose `key` equals the entry-point name. Anything else is logged, recorded in
        `load_errors` and skipped; for a duplicate key the first one loaded is kept.
        """
        registry = cls()
        off = set(disabled)
        for ep in entry_points(group=group):
            if ep.name in off:
                log.info("Step type '%s' is disabled.", ep.name)
                continue
            registry._load(ep)
        return registry

    def _error(self, message: str) -> None:
        log.error("%s", message)
        self.load_errors.append(message)

    def _load(self, ep: EntryPoint) -> None:
        provider = (ep.dist.name, ep.dist.version) if ep.dist is not None else None
        where = f"entry point '{ep.name}' ({ep.value})" + (
            f" of {provider[0]} {provider[1]}" if provider else ""
        )
        try:
            obj = ep.load()
            if isinstance(obj, type) and issubclass(obj, StepType):
                obj = obj()
        except Exception as exc:
            log.exception("Could not load %s.", where)
            self.load_errors.append(f"Could not load {where}: {exc!r}")
            return
        if not isinstance(obj, StepType):
            self._error(f"Skipped {where}: it is not a StepType (got {type(obj).__name__}).")
            return
        wrong = _malformed(obj)
        if wrong:
            self._error(f"Skipped {where}: {'; '.join(wrong)}.")
            return
        if obj.key != ep.name:
            self._error(f"Skipped {where}: its key '{obj.key}' differs from the entry-point name.")
            return
        if obj.key in self._types:
            first = self._providers.get(obj.key)
            self._error(
                f"Skipped {where}: key '{obj.key}' is already provided"
                + (f" by {first[0]} {first[1]}." if first else ".")
            )
            return
        self._types[obj.key] = obj
        if provider:
            self._providers[obj.key] = provider

    def get(self, key: str) -> StepType[Any] | None:
        return self._types.get(key)

    def all(self) -> list[StepType[Any]]:
        """Every step type, sorted by key."""
        return [self._types[key] for key in sorted(self._types)]

    def provider(self, key: str) -> tuple[str, str] | None:
        """(distribution name, version) of the package providing `key`, when known."""
        return self._providers.get(key)

    # --- What authoring and the engine see of a step ---------------------------------------

    def shape(self, type_key: str) -> StepShape | None:
        """What the sequence graph needs of a step type (its `ShapeOf`); None when it is not
        installed."""
        step_type = self._types.get(type_key)
        if step_type is None:
            return None
        return StepShape(
            branches=tuple(b.value for b in step_type.branches),
            activity_kind=step_type.activity_kind.value if step_type.activity_kind else None,
            is_condition=step_type.category is StepCategory.CONDITION
            or Branch.YES in step_type.branches,
        )

    def step_ref(self, graph: SequenceGraph, key: str) -> StepRef:
        """The step at `key` as validation and execution see it (an uninstalled type is a
        plain step without an activity kind)."""
        step = graph.steps[key]
        step_type = self._types.get(step.type)
        return StepRef(
            key=key,
            type=step.type,
            category=step_type.category if step_type else StepCategory.STEP,
            activity_kind=step_type.activity_kind if step_type else None,
            name=step.name,
        )

    # --- Never-raising calls into plugins ------------------------------------------------------

    def _missing(self, key: str) -> str:
        plugin = key.split(".", 1)[0]
        return (
            f"Step type '{key}' is not installed: install or enable the plugin that provides it"
            f" ('{plugin}')."
        )

    def check_step(
        self, type_key: str, raw_config: Mapping[str, Any] | None, context: ValidationContext
    ) -> list[Problem]:
        """Every problem with a step of `type_key` configured as `raw_config` at `context`.

        UNKNOWN_STEP_TYPE when the type is not installed; otherwise the plugin's parse and
        validate problems (field paths relative to the config). A plugin that raises yields
        one PLUGIN_ERROR. All problems carry `step_key=context.step_key`.
        """
        step_type = self._types.get(type_key)
        if step_type is None:
            problems = [Problem(ErrorCode.UNKNOWN_STEP_TYPE, self._missing(type_key))]
        else:
            try:
                config, problems = step_type.parse_config(raw_config)
                if config is not None:
                    problems = list(step_type.validate(config, context))
            except Exception:
                what = _describe(step_type, self.provider(type_key))
                log.exception("Validating a step with %s failed.", what)
                problems = [
                    Problem(
                        ErrorCode.PLUGIN_ERROR,
                        f"The plugin of {what} failed checking this step; see the server log.",
                    )
                ]
        return [
            Problem(p.code, p.message, tuple(p.field), context.step_key)
            if p.step_key != context.step_key
            else p
            for p in problems
        ]

    def load_config(self, type_key: str, raw_config: Mapping[str, Any] | None) -> BaseModel:
        """The parsed config for executing a step; raises `PluginFailure` (UNKNOWN_STEP_TYPE,
        INVALID_CONFIG or PLUGIN_ERROR) instead of returning problems."""
        step_type = self._step_type(type_key)
        try:
            config, problems = step_type.parse_config(raw_config)
        except Exception as exc:
            raise self._failure(step_type, "parsing its configuration", exc) from exc
        if config is None:
            details = "; ".join(f"{'.'.join(p.field) or '-'}: {p.message}" for p in problems)
            raise PluginFailure(
                ErrorCode.INVALID_CONFIG, f"Step type '{type_key}' rejects its config: {details}"
            )
        return config

    def _step_type(self, type_key: str) -> StepType[Any]:
        step_type = self._types.get(type_key)
        if step_type is None:
            raise PluginFailure(ErrorCode.UNKNOWN_STEP_TYPE, self._missing(type_key))
        return step_type

    def _failure(self, step_type: StepType[Any], doing: str, exc: Exception) -> PluginFailure:
        what = _describe(step_type, self.provider(step_type.key))
        log.error("The plugin of %s failed %s.", what, doing, exc_info=exc)
        return PluginFailure(
            ErrorCode.PLUGIN_ERROR, f"The plugin of {what} failed {doing}: {exc!r}"
        )

    def _checked(self, step_type: StepType[Any], outcome: Any, doing: str) -> Outcome:
        if not isinstance(outcome, Outcome):
            message = f"returned {outcome!r}, which is not an outcome"
        elif isinstance(outcome, Done | TakeBranch) and outcome.branch not in step_type.branches:
            message = f"chose branch {outcome.branch.value}, which it does not declare"
        else:
            return outcome
        what = _describe(step_type, self.provider(step_type.key))
        log.error("The plugin of %s %s (%s).", what, message, doing)
        raise PluginFailure(ErrorCode.PLUGIN_ERROR, f"The plugin of {what} {message}.")

    async def run_execute(self, type_key: str, ctx: ExecutionContext[Any]) -> Outcome:
        """`execute` of the step type; raises `PluginFailure` when it is missing or fails."""
        step_type = self._step_type(type_key)
        try:
            outcome = await step_type.execute(ctx)
        except RecipientOptedOut:
            raise
        except Exception as exc:
            raise self._failure(step_type, "executing a step", exc) from exc
        return self._checked(step_type, outcome, "executing a step")

    async def run_on_event(
        self, type_key: str, ctx: ExecutionContext[Any], event: EngagementEvent
    ) -> Outcome | None:
        """`on_event` of the step type (None: keep waiting); raises `PluginFailure`."""
        step_type = self._step_type(type_key)
        try:
            outcome = await step_type.on_event(ctx, event)
        except Exception as exc:
            raise self._failure(step_type, "handling an event", exc) from exc
        return None if outcome is None else self._checked(step_type, outcome, "handling an event")

    def hears_record_changes(self, type_key: str) -> bool:
        """Whether the step type (if installed) defines `on_record_change`."""
        step_type = self.get(type_key)
        return step_type is not None and step_type.hears_record_changes()

    async def run_on_record_change(
        self, type_key: str, ctx: ExecutionContext[Any], change: RecordChange
    ) -> Outcome | None:
        """`on_record_change` of the step type (None: keep waiting); raises `PluginFailure`."""
        step_type = self._step_type(type_key)
        try:
            outcome = await step_type.on_record_change(ctx, change)
        except Exception as exc:
            raise self._failure(step_type, "handling a record change", exc) from exc
        if outcome is None:
            return None
        return self._checked(step_type, outcome, "handling a record change")

    async def run_on_deadline(self, type_key: str, ctx: ExecutionContext[Any]) -> Outcome:
        """`on_deadline` of the step type; raises `PluginFailure`."""
        step_type = self._step_type(type_key)
        try:
            outcome = await step_type.on_deadline(ctx)
        except Exception as exc:
            raise self._failure(step_type, "handling a deadline", exc) from exc
        return self._checked(step_type, outcome, "handling a deadline")
