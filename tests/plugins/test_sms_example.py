"""The partner example examples/sekvens-sms, installed the way a partner installs it, loads
through entry points and runs like a built-in step type."""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sekvens.plugins.api import CreateActivity, Done, ErrorCode
from sekvens.plugins.registry import PluginFailure, Registry
from sekvens.plugins.testing import make_execution_context, make_validation_context
from tests.sms_example import EXAMPLE, installed_sms_example

HELLO = {"text": "Hi {{ first_name }}", "phone_field": "phone"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with installed_sms_example(tmp_path_factory.mktemp("sekvens-sms")) as target:
        yield target


@pytest.fixture
def registry(installed: Path) -> Registry:
    return Registry.from_entry_points()


def test_entry_points_provide_the_sms_step_types(installed: Path, registry: Registry) -> None:
    for key in ("sms.manual", "sms.auto"):
        step_type = registry.get(key)
        assert step_type is not None
        assert step_type.key == key
        assert registry.provider(key) == ("sekvens-sms", "1.0.0")
        assert Path(inspect.getfile(type(step_type))).is_relative_to(installed)
    assert {"sms.manual", "sms.auto"} <= {s.key for s in registry.all()}
    assert not [error for error in registry.load_errors if "sekvens-sms" in error]


def test_disabled_step_types_are_not_loaded(installed: Path) -> None:
    registry = Registry.from_entry_points(disabled=["sms.auto"])
    assert registry.get("sms.auto") is None
    assert registry.get("sms.manual") is not None


def test_check_step_validates_the_partner_config(registry: Registry) -> None:
    context = make_validation_context(step_key="sms-1")
    assert registry.check_step("sms.manual", HELLO, context) == []

    problems = registry.check_step("sms.auto", {"text": "Hi {{ nickname }}"}, context)
    assert [(p.code, p.field, p.step_key) for p in problems] == [
        (ErrorCode.UNKNOWN_MERGE_FIELD, ("text",), "sms-1"),
        (ErrorCode.UNKNOWN_FIELD, ("phone_field",), "sms-1"),  # the lead has no mobile_phone
    ]
    problems = registry.check_step("sms.auto", {**HELLO, "text": "x" * 1601}, context)
    assert [(p.code, p.field) for p in problems] == [(ErrorCode.INVALID_CONFIG, ("text",))]


async def test_run_execute_runs_the_partner_steps(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_execution_context(registry.load_config("sms.manual", HELLO))
    assert await registry.run_execute("sms.manual", ctx) == CreateActivity(
        subject="Text Ada Lovelace",
        instructions="Hi Ada",
        data={"to": "+44 20 7946 0000", "text": "Hi Ada"},
    )

    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("SEKVENS_SMS_OUTBOX", str(outbox))
    config = registry.load_config("sms.auto", HELLO)
    for _ in range(2):  # executed twice, sent once
        ctx = make_execution_context(config)
        assert await registry.run_execute("sms.auto", ctx) == Done()
    [line] = outbox.read_text().splitlines()
    assert json.loads(line) == {
        "id": ctx.state["message_id"],
        "to": "+44 20 7946 0000",
        "text": "Hi Ada",
        "idempotency_key": ctx.idempotency_key,
    }


async def test_a_failing_partner_step_is_a_plugin_failure(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEKVENS_SMS_OUTBOX", raising=False)
    ctx = make_execution_context(registry.load_config("sms.auto", HELLO))
    with pytest.raises(PluginFailure) as failure:
        await registry.run_execute("sms.auto", ctx)
    assert failure.value.code is ErrorCode.PLUGIN_ERROR
    assert "sekvens-sms 1.0.0" in failure.value.message
    assert "SEKVENS_SMS_OUTBOX" in failure.value.message


def test_the_example_imports_nothing_of_sekvens_but_the_api() -> None:
    imported: set[str] = set()
    for path in (EXAMPLE / "sekvens_sms").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    assert {name for name in imported if name.split(".")[0] == "sekvens"} == {"sekvens.plugins.api"}


def test_code_excerpts_in_the_plugin_docs_are_real() -> None:
    """docs/plugins.md quotes the example as "From [`name`](../examples/...):" + a code block;
    each quoted block must appear verbatim in that file."""
    docs = (EXAMPLE.parents[1] / "docs" / "plugins.md").read_text()
    excerpts = re.findall(r"From \[`[^`]+`\]\(\.\./([^)]+)\):\n\n```\w+\n(.*?)```", docs, re.S)
    assert len(excerpts) >= 6
    for relative, code in excerpts:
        assert code in (EXAMPLE.parents[1] / relative).read_text(), relative
