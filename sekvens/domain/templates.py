"""Merge-field templates (emails, scripts): sandboxed Jinja2, checked against a record type.

Templates reference a record's fields as top-level variables (`{{ first_name }}`), plus
`record` (`name`, `external_id`) and `sender` (`email`). Rendering runs in Jinja2's immutable
sandbox with strict undefined variables; a `None` value renders as an empty string. Probes such
as `{{ ''.__class__ }}`, calls that mutate data and oversized repetition raise `TemplateProblem`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.records import RecordTypeInfo

TEMPLATE_GLOBALS = frozenset({"record", "sender"})
"""Variables a template may use besides the record type's fields."""

MAX_REPEAT = 100_000
"""Largest sequence that `*` may build, and largest exponent `**` accepts."""


class TemplateProblem(Exception):
    """A template that does not parse or cannot be rendered; `lineno` when known."""

    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.message = message
        self.lineno = lineno


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_REPEAT:
                raise SecurityError("exponent is too large")
            return left**right
        for seq, count in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(count, int)
                and len(seq) * count > MAX_REPEAT
            ):
                raise SecurityError("repetition is too large")
        return operator.mul(left, right)


_ENV = _Environment(
    undefined=StrictUndefined,
    autoescape=False,
    finalize=lambda value: "" if value is None else value,
)
_ENV.globals.clear()


def _parse(source: str) -> nodes.Template:
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"Template syntax error on line {exc.lineno}: {exc.message}", exc.lineno
        ) from exc


@lru_cache(maxsize=1024)
def _fields(source: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(_parse(source)))


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    # The environment is immutable and sandboxed, so compiled templates can be shared.
    return _ENV.from_string(_parse(source))


def template_fields(source: str) -> set[str]:
    """The top-level variables `source` references; raises `TemplateProblem` on a syntax error."""
    return set(_fields(source))


def render_template(source: str, fields: Mapping[str, Any]) -> str:
    """Render `source` with `fields` as its variables; raises `TemplateProblem` on any failure."""
    template = _compiled(source)
    try:
        return template.render(dict(fields))
    except SecurityError as exc:
        raise TemplateProblem(f"Template uses something that is not allowed: {exc}") from exc
    except TemplateError as exc:
        raise TemplateProblem(f"Template could not be rendered: {exc.message}") from exc
    except Exception as exc:  # arithmetic or filter errors inside user-written templates
        raise TemplateProblem(f"Template could not be rendered: {exc}") from exc


def check_template(
    source: str, record_type: RecordTypeInfo, path: tuple[str, ...]
) -> list[Problem]:
    """Problems with `source` for records of `record_type`, each at field path `path`.

    TEMPLATE_ERROR for a syntax error; UNKNOWN_MERGE_FIELD for each variable that is neither
    a field of the record type nor one of `TEMPLATE_GLOBALS`.
    """
    try:
        names = template_fields(source)
    except TemplateProblem as exc:
        return [Problem(ErrorCode.TEMPLATE_ERROR, exc.message, path)]
    return [
        Problem(
            ErrorCode.UNKNOWN_MERGE_FIELD,
            f"Merge field '{name}' is not a field of record type '{record_type.name}'.",
            path,
        )
        for name in sorted(names - TEMPLATE_GLOBALS - record_type.fields.keys())
    ]
