"""What a template may produce and cost is bounded (docs/security.md, "Templates")."""

from __future__ import annotations

import pytest

from sekvens.domain.templates import (
    MAX_SUBJECT_OUTPUT,
    MAX_TEMPLATE_OUTPUT,
    MAX_TEMPLATE_STEPS,
    TemplateProblem,
    check_template,
    render_template,
)
from sekvens.engine.mail import MessageTooLarge, check_size
from sekvens.plugins.api import Fail, MailMessage
from sekvens.plugins.email import auto
from sekvens.plugins.testing import (
    LEAD,
    LEAD_FIELDS,
    codes,
    make_execution_context,
    make_record,
    parse,
)

FIELDS = {**LEAD_FIELDS, "record": {"name": "Ada"}, "sender": {"email": "s@example.com"}}

HUGE = [
    # widths, precisions and repetition
    "{{ first_name|center(300000000) }}",
    "{{ '%300000000s'|format(first_name) }}",
    "{{ '%.300000000f'|format(1) }}",
    "{{ '%300000000s' % first_name }}",
    "{{ '%*s'|format(300000000, first_name) }}",
    "{{ first_name|indent(300000000) }}",
    "{{ first_name|indent(300000000, true) }}",
    "{{ first_name|wordwrap(1, wrapstring='x' * 100000) }}",
    "{{ first_name * 100000000 }}",
    "{{ [first_name] * 100000000 }}",
    "{{ first_name|replace('', 'x' * 100000) }}",
    "{{ range(10000)|join('x' * 1000) }}",
    "{{ range(10000)|batch(300000000, 'x')|list }}",
    "{{ first_name|slice(300000000)|list }}",
    "{{ (2 ** 4000) ** 100 }}",
    "{{ (2 ** 4000) * (2 ** 4000) * (2 ** 4000) }}",
    # ranges, loops and recursion
    "{% for i in range(10 ** 9) %}x{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) if false %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    # text built where the output does not see it
    "{% set a = first_name ~ first_name %}{% set b = a ~ a %}{% set c = b ~ b %}"
    "{% set d = c ~ c %}{% set e = d ~ d %}{% set f = e ~ e %}{% set g = f ~ f %}"
    "{% set h = g ~ g %}{% set i = h ~ h %}{% set j = i ~ i %}{% set k = j ~ j %}"
    "{% set l = k ~ k %}{% set m = l ~ l %}{% set n = m ~ m %}{% set o = n ~ n %}"
    "{% set p = o ~ o %}{% set q = p ~ p %}{% set r = q ~ q %}{{ r|length }}",
    "{% filter upper %}{% for i in range(9000) %}" + "x" * 200 + "{% endfor %}{% endfilter %}",
    "{% set s %}{% for i in range(9000) %}{{ 'x' * 200 }}{% endfor %}{% endset %}{{ s|length }}",
    "{{ ['x' * 100000] * 20 }}",
    "{{ (['x' * 100000] * 20)|join }}",
    # work on large values without building anything
    "{% set s = 'x' * 500000 %}{% for i in range(9000) %}{% if 'z' in s %}{% endif %}{% endfor %}",
    "{% set s = 'x' * 400000 %}{% set t = 'x' * 400000 %}"
    "{% for i in range(9000) %}{% if s == t %}{% endif %}{% endfor %}",
    "{% set s = 'x' * 500000 %}{% for i in range(9000) %}{{ s[1:]|length }}{% endfor %}",
    "{% set s = 'x' * 500000 %}{% for i in range(9000) %}{{ s|wordcount }}{% endfor %}",
    "{% set s = 'x' * 500000 %}{% for i in range(9000) %}{{ s.count('y') }}{% endfor %}",
    # output
    "{% for i in range(9000) %}{{ 'x' * 100 }}{% endfor %}",
    "{{ 'x' * 262145 }}",
]


@pytest.mark.parametrize("source", HUGE)
def test_a_template_too_large_for_any_record_stops_and_is_refused_at_design_time(
    source: str,
) -> None:
    with pytest.raises(TemplateProblem) as info:
        render_template(source, FIELDS)
    assert info.value.code == "TEMPLATE_TOO_LARGE" or "'*'" in info.value.message
    problems = check_template(source, LEAD, ("template", "body"))
    assert [p.field for p in problems] == [("template", "body")]
    assert problems[0].code in ("TEMPLATE_TOO_LARGE", "TEMPLATE_ERROR")
    assert "too large" in problems[0].message or "not allowed" in problems[0].message


def test_the_limit_names_what_was_passed_and_the_line() -> None:
    with pytest.raises(TemplateProblem) as info:
        render_template("Hi\n{{ first_name|center(300000000) }}", FIELDS)
    assert info.value.lineno == 2
    assert "line 2" in info.value.message and "1,048,576 characters" in info.value.message
    with pytest.raises(TemplateProblem, match=f"more than {MAX_TEMPLATE_STEPS:,} loop passes"):
        render_template(
            "{% for i in range(100) %}{% for j in range(101) %}{% endfor %}{% endfor %}", {}
        )


@pytest.mark.parametrize(
    "source",
    [
        "{{ first_name.ljust(300000000) }}",
        "{{ first_name.center(300000000) }}",
        "{{ first_name.zfill(300000000) }}",
        "{{ '{:300000000}'.format(1) }}",
        "{{ '{0:300000000}'.format_map({'0': 1}) }}",
        "{{ first_name.join(['x', 'y']) }}",
        "{{ first_name.replace('', 'x') }}",
        "{{ (1).to_bytes(100000000, 'big') }}",
        "{{ first_name|tojson }}",
        "{{ first_name|urlize }}",
        "{{ range(10)|random }}",
    ],
)
def test_unbounded_methods_and_filters_are_not_there(source: str) -> None:
    with pytest.raises(TemplateProblem):
        render_template(source, FIELDS)
    [problem] = check_template(source, LEAD, ("script",))
    assert problem.code == "TEMPLATE_ERROR"


def test_output_is_capped_exactly() -> None:
    assert len(render_template("{{ 'x' * 262144 }}", {})) == MAX_TEMPLATE_OUTPUT
    assert render_template("{{ first_name }}", FIELDS, max_output=3) == "Ada"
    with pytest.raises(TemplateProblem, match="longer than 2 characters") as info:
        render_template("{{ first_name }}", FIELDS, max_output=2)
    assert info.value.code == "TEMPLATE_TOO_LARGE"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ first_name|center(9) }}", "   Ada   "),
        ("{{ '%-5s|%05.1f'|format(first_name, 2.25) }}", "Ada  |002.2"),
        ("{{ '%(n)s!' % {'n': first_name} }}", "Ada!"),
        ("{{ 'a b c'|wordwrap(3) }}", "a b\nc"),
        ("{{ 'a\nb'|indent(2, true) }}", "  a\n  b"),
        ("{{ company|truncate(12, true) }}", "Analytica..."),
        ("{{ ['a', 'b']|join(', ') }}", "a, b"),
        ("{{ 'a-b'|replace('-', ' and ') }}", "a and b"),
        ("{{ first_name|upper ~ '/' ~ last_name.lower() }}", "ADA/lovelace"),
        ("{% for w in company.split() %}{{ loop.index }}{{ w[:1] }}{% endfor %}", "1A2E3L"),
        ("{{ range(3)|list }} {{ 'x' * 3 }} {{ 2 ** 10 }}", "[0, 1, 2] xxx 1024"),
        ("{% if 'Ada' in first_name and employees > 40 %}yes{% endif %}", "yes"),
        ("{% macro hi(n) %}Hi {{ n }}{% endmacro %}{{ hi(first_name) }}", "Hi Ada"),
        ("{{ rating|title }} {{ (employees / 4)|round(1) }}", "Warm 10.5"),
    ],
)
def test_ordinary_templates_render_as_before(source: str, expected: str) -> None:
    assert render_template(source, FIELDS) == expected
    assert check_template(source, LEAD, ("body",)) == []


def test_a_template_huge_only_for_some_values_passes_design_and_fails_at_run_time() -> None:
    for source in ("{{ 'x'|center(employees) }}", "{{ first_name * 20000 }}"):
        assert check_template(source, LEAD, ("body",)) == []
        assert render_template(source, {**FIELDS, "employees": 5, "first_name": "Al"})
        with pytest.raises(TemplateProblem) as info:
            render_template(source, {**FIELDS, "employees": 10**9, "first_name": "A" * 100})
        assert info.value.code == "TEMPLATE_TOO_LARGE"


def test_the_email_subject_has_its_own_cap() -> None:
    subject = "{{ first_name * 40 }}"  # 440 characters with the sample value
    config = parse(auto, {"template": {"subject": subject, "body": "Hi"}})
    problems = config.template.check(LEAD)
    assert codes(problems) == [("TEMPLATE_TOO_LARGE", ("template", "subject"))]
    assert f"{MAX_SUBJECT_OUTPUT:,} characters" in problems[0].message


async def test_an_automated_email_too_large_for_its_record_fails_without_sending() -> None:
    config = parse(auto, {"template": {"subject": "Hi", "body": "{{ first_name * 20000 }}"}})
    ctx = make_execution_context(
        config, record=make_record({**LEAD_FIELDS, "first_name": "A" * 99})
    )
    outcome = await auto.execute(ctx)
    assert isinstance(outcome, Fail) and outcome.code == "TEMPLATE_TOO_LARGE"
    assert "too large" in outcome.message
    assert ctx.mail.sent == []


def test_the_outbox_refuses_messages_over_its_caps() -> None:
    check_size(MailMessage("a@example.com", "s" * 400, "t" * MAX_TEMPLATE_OUTPUT))
    for message in (
        MailMessage("a@example.com", "s" * 401, "t"),
        MailMessage("a@example.com", "s", "t" * (MAX_TEMPLATE_OUTPUT + 1)),
        MailMessage("a@example.com", "s", "t", html="h" * (MAX_TEMPLATE_OUTPUT + 1)),
    ):
        with pytest.raises(MessageTooLarge, match="the outbox stores at most"):
            check_size(message)
