"""The plugin contract: config parsing, defaults, templates and their sandbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import pytest
from pydantic import Field, StringConstraints

from sekvens.plugins.api import (
    Branch,
    CreateActivity,
    Done,
    EngagementEvent,
    ErrorCode,
    EventKind,
    ExecutionContext,
    Exit,
    HandOver,
    Outcome,
    StepCategory,
    StepConfig,
    StepType,
    TakeBranch,
    TemplateProblem,
    WaitFor,
    WaitForEvents,
    check_template,
    render_template,
    template_fields,
)
from sekvens.plugins.testing import LEAD, NOW, codes, make_execution_context, make_record, parse


class Item(StepConfig):
    name: Annotated[str, StringConstraints(min_length=1)]
    count: int = Field(1, ge=1)


class Config(StepConfig):
    title: Annotated[str, StringConstraints(min_length=1, max_length=10)]
    items: list[Item] = []


class Sample(StepType[Config]):
    key = "test.sample"
    category = StepCategory.STEP
    display_name = "Sample"
    description = "A step type for tests."
    config_model = Config
    automatic = True

    async def execute(self, ctx: ExecutionContext[Config]) -> Outcome:
        return Done()


sample = Sample()


def test_parse_config_returns_the_model() -> None:
    config, problems = sample.parse_config({"title": "Hi", "items": [{"name": "a", "count": 2}]})
    assert problems == []
    assert config == Config(title="Hi", items=[Item(name="a", count=2)])


def test_missing_value_is_required_at_its_path() -> None:
    config, problems = sample.parse_config(None)
    assert config is None
    assert codes(problems) == [("REQUIRED", ("title",))]


def test_invalid_values_have_string_paths_including_indexes() -> None:
    _, problems = sample.parse_config(
        {"title": "x" * 11, "items": [{"name": "ok"}, {"name": "", "count": 0}]}
    )
    assert codes(problems) == [
        ("INVALID_CONFIG", ("title",)),
        ("INVALID_CONFIG", ("items", "1", "name")),
        ("INVALID_CONFIG", ("items", "1", "count")),
    ]
    assert all(p.message for p in problems)


@pytest.mark.parametrize("raw", [["not", "a", "mapping"], "text", 3])
def test_a_config_that_is_not_an_object_is_a_problem_not_an_exception(raw: object) -> None:
    config, problems = sample.parse_config(raw)  # type: ignore[arg-type]
    assert config is None
    assert codes(problems) == [("INVALID_CONFIG", ())]


def test_unknown_keys_are_refused_by_step_config() -> None:
    _, problems = sample.parse_config({"title": "Hi", "colour": "red"})
    assert codes(problems) == [("INVALID_CONFIG", ("colour",))]


def test_config_schema_is_the_models_json_schema() -> None:
    schema = sample.config_schema()
    assert schema["required"] == ["title"]
    assert schema["properties"]["title"]["maxLength"] == 10
    assert schema["additionalProperties"] is False


async def test_defaults_keep_waiting_on_events_and_take_no_at_the_deadline() -> None:
    ctx = make_execution_context(parse(sample, {"title": "Hi"}))
    event = EngagementEvent("e1", EventKind.EMAIL_OPENED, NOW)
    assert sample.validate(ctx.config, None) == []  # type: ignore[arg-type]
    assert await sample.on_event(ctx, event) is None
    assert await sample.on_deadline(ctx) == TakeBranch(Branch.NO)


def test_outcome_alias_covers_every_outcome() -> None:
    outcomes = [
        CreateActivity("Call"),
        Done(),
        WaitFor(timedelta(hours=1)),
        WaitForEvents(frozenset({EventKind.EMAIL_OPENED}), timedelta(days=1)),
        TakeBranch(Branch.YES),
        Exit(),
        HandOver("nurture"),
    ]
    assert all(isinstance(o, Outcome) for o in outcomes)
    assert not isinstance("Done", Outcome)


# --- Templates -------------------------------------------------------------------------------


def test_template_fields_are_the_top_level_variables() -> None:
    source = "{{ first_name }} {% for x in items %}{{ x.name }}{% endfor %}{% set y = 1 %}{{ y }}"
    assert template_fields(source) == {"first_name", "items"}


def test_template_fields_raises_on_syntax_error() -> None:
    with pytest.raises(TemplateProblem) as info:
        template_fields("Hi {{ first_name ")
    assert info.value.lineno == 1


def test_render_template_merges_fields() -> None:
    text = render_template(
        "Hi {{ first_name | title }}{% if company %} at {{ company }}{% endif %}!",
        {"first_name": "ada", "company": None},
    )
    assert text == "Hi Ada!"


def test_render_template_keeps_html_unescaped_for_text() -> None:
    assert render_template("{{ x }}", {"x": "<b>&</b>"}) == "<b>&</b>"


def test_render_template_refuses_undefined_variables() -> None:
    with pytest.raises(TemplateProblem, match="undefined"):
        render_template("Hi {{ first_name }}", {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ first_name.__class__.__base__ }}",
        "{{ record.__init__.__globals__ }}",
        "{{ first_name.format.__globals__ }}",
        "{{ '{0.__class__}'.format(first_name) }}",
        "{{ items.append(1) }}",
        "{{ record.update(name='x') }}",
        "{{ 'x' * 10000000 }}",
        "{{ 10 ** 10000000 }}",
        "{{ lipsum(1000000) }}",
        "{{ cycler }}",
        "{{ 1 / 0 }}",
    ],
)
def test_sandbox_probes_fail(source: str) -> None:
    fields = {"first_name": "Ada", "items": [1], "record": {"name": "Ada"}}
    with pytest.raises(TemplateProblem):
        render_template(source, fields)


def test_check_template_reports_unknown_merge_fields_at_the_path() -> None:
    problems = check_template(
        "{{ first_name }} {{ favourite_colour }} {{ record.name }} {{ sender.email }} {{ zodiac }}",
        LEAD,
        ("template", "body"),
    )
    assert codes(problems) == [
        ("UNKNOWN_MERGE_FIELD", ("template", "body")),
        ("UNKNOWN_MERGE_FIELD", ("template", "body")),
    ]
    assert "favourite_colour" in problems[0].message
    assert "zodiac" in problems[1].message


def test_check_template_reports_syntax_errors() -> None:
    problems = check_template("{% if first_name %}Hi", LEAD, ("subject",))
    assert codes(problems) == [("TEMPLATE_ERROR", ("subject",))]
    assert problems[0].code is ErrorCode.TEMPLATE_ERROR


def test_template_values_cover_every_field_and_render_unset_ones_empty() -> None:
    ctx = make_execution_context(
        parse(sample, {"title": "Hi"}), record=make_record({"first_name": "Ada"})
    )
    values = ctx.template_values()
    assert set(values) == {*LEAD.fields, "record", "sender"}
    text = render_template(
        "{{ first_name }}|{{ company }}|{{ record.name }}|{{ record.external_id }}"
        "|{{ sender.email }}",
        values,
    )
    assert text == "Ada||Ada Lovelace|crm-1|seller@example.com"
