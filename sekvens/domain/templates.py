"""Merge-field templates (emails, scripts): sandboxed Jinja2, checked against a record type.

Templates reference a record's fields as top-level variables (`{{ first_name }}`), plus
`record` (`name`, `external_id`) and `sender` (`SENDER_FIELDS`: `email`, `name`, `reply_to`,
`signature`). Rendering runs in Jinja2's immutable
sandbox with strict undefined variables; a `None` value renders as an empty string. Probes such
as `{{ ''.__class__ }}` and calls that mutate data raise `TemplateProblem`.

What a render may do is bounded (docs/security.md, "Templates"): its output
(`MAX_TEMPLATE_OUTPUT`, less for a subject), its steps (`MAX_TEMPLATE_STEPS`: loop passes, calls,
filters) and its work (`MAX_TEMPLATE_WORK`: characters or items built or read, charged *before*
padding, repetition, formatting, joining or replacing allocates them). A render that would
pass a bound stops with `TemplateProblem` coded TEMPLATE_TOO_LARGE; `check_template` renders
with sample values under the same bounds, so a design that is always too large is refused
before it runs.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, ItemsView, Iterable, KeysView, Mapping, ValuesView
from contextvars import ContextVar
from functools import lru_cache, wraps
from types import BuiltinMethodType, TracebackType
from typing import Any, cast

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.records import FieldType, RecordTypeInfo

TEMPLATE_GLOBALS = frozenset({"record", "sender"})
"""Variables a template may use besides the record type's fields."""
SENDER_FIELDS = frozenset({"email", "name", "reply_to", "signature"})
"""What `sender` holds: the sender identity's address, display name, Reply-To, signature."""

MAX_TEMPLATE_OUTPUT = 262_144
"""Characters a rendered template (an email body, a call script) may have: 256 Ki."""
MAX_SUBJECT_OUTPUT = 400
"""Characters a rendered email subject may have (what the outbox stores)."""
MAX_TEMPLATE_STEPS = 10_000
"""Loop passes, calls (macros included) and filter uses of one render."""
MAX_TEMPLATE_WORK = 1_048_576
"""Characters (or list items) one render may build or read, output included: 1 Mi."""
MAX_NUMBER_BITS = 4_096
"""Largest integer (in bits) that `*` and `**` may make."""

FILTERS_ALLOWED = frozenset(
    {
        "abs", "batch", "capitalize", "center", "count", "d", "default", "dictsort",
        "filesizeformat", "first", "float", "format", "groupby", "indent", "int", "items", "join",
        "last", "length",
        "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
        "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "trim",
        "truncate", "unique", "upper", "urlencode", "wordcount", "wordwrap",
    }
)  # fmt: skip
"""Jinja2's filters a template may use (escaping, JSON, random and the like are left out)."""

_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
        "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "lower",
        "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rpartition",
        "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
        "upper",
    }
)  # fmt: skip
"""String methods that cannot make a text longer than a few times itself (no padding,
`format`, `join` or `replace`: their filters are bounded)."""
_METHODS: tuple[tuple[type | tuple[type, ...], frozenset[str]], ...] = (
    (str, _STR_METHODS),
    (dict, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple), frozenset({"count", "index"})),
    ((int, float), frozenset()),
)
_CHEAP_FILTERS = frozenset({"count", "d", "default", "first", "last", "length"})
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.S)
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


class TemplateProblem(Exception):
    """A template that does not parse or cannot be rendered; `lineno` when known. `code` is
    TEMPLATE_TOO_LARGE when a bound stopped it, TEMPLATE_ERROR otherwise."""

    def __init__(
        self, message: str, lineno: int | None = None, code: ErrorCode = ErrorCode.TEMPLATE_ERROR
    ):
        super().__init__(message)
        self.message = message
        self.lineno = lineno
        self.code = code


class _Exceeded(Exception):
    """A render passed one of its bounds."""


def _size(value: Any, limit: int) -> int:
    """At least the characters `str(value)` has (items inside a container count as their
    repr; a range as its length); counting stops once past `limit`."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, range):
        return len(value)
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += (2 if item.isprintable() else 10) * len(item) + 2
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, range):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        else:
            total += 8
    return total


class _Budget:
    """What one render may still do."""

    def __init__(self) -> None:
        self.steps = MAX_TEMPLATE_STEPS
        self.work = MAX_TEMPLATE_WORK

    def step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise _Exceeded(f"more than {MAX_TEMPLATE_STEPS:,} loop passes, calls and filter uses")

    def spend(self, amount: int) -> None:
        self.work -= amount
        if self.work < 0:
            raise _Exceeded(
                f"it would build or read more than {MAX_TEMPLATE_WORK:,} characters (a width,"
                " repetition, range or loop that is too large)"
            )

    def read(self, *values: Any) -> None:
        """Spend what reading (or converting to text) `values` costs."""
        for value in values:
            self.spend(_size(value, self.work))


_BUDGET: ContextVar[_Budget] = ContextVar("template_budget")


def _budget() -> _Budget:
    return _BUDGET.get()


def _check_bits(bits: int) -> None:
    if bits > MAX_NUMBER_BITS:
        raise _Exceeded(f"a number would have more than {MAX_NUMBER_BITS:,} bits")


def _percent(fmt: str, args: Any) -> str:
    """`fmt % args`, its widths and precisions paid for before Python pads anything."""
    extra = 0
    for match in _PERCENT_SPEC.finditer(fmt):
        width, precision, _ = match.groups()
        if width == "*" or precision == "*":
            raise SecurityError("widths given by '*' are not allowed in a format")
        extra += int(width or 0) + int(precision or 0)
    budget = _budget()
    budget.spend(len(fmt) + extra)
    budget.read(args)
    return fmt % args


def _bounded_filters() -> dict[str, Callable[..., Any]]:
    """The allowed filters; each costs a step and what it reads and builds, and the ones that
    pad, repeat or join pay for their output before making it."""

    def center(value: Any, width: int = 80) -> str:
        _budget().spend(max(width, 0))
        return FILTERS["center"](value, width)

    def indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
        pad = width if isinstance(width, str) else max(width, 0)
        _budget().spend(len(pad) if isinstance(pad, str) else pad)
        text = str(s)
        _budget().spend((text.count("\n") + 1) * (len(pad) if isinstance(pad, str) else pad))
        return FILTERS["indent"](s, width, first, blank)

    def format_(value: Any, *args: Any, **kwargs: Any) -> str:
        if args and kwargs:
            raise TypeError("can't handle positional and keyword arguments at the same time")
        return _percent(str(value), kwargs or args)

    def wordwrap(env: Any, s: str, width: int = 79, *args: Any, **kwargs: Any) -> str:
        text = str(s)
        wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None) or "\n"
        lines = 2 * len(text) // max(width, 1) + text.count("\n") + 2
        _budget().spend(len(text) + lines * len(str(wrapstring)))
        return FILTERS["wordwrap"](env, s, width, *args, **kwargs)

    def replace(ctx: Any, s: Any, old: str, new: str, count: int | None = None) -> str:
        text, old, new = str(s), str(old), str(new)
        times = text.count(old) if old else len(text) + 1
        if count is not None and count >= 0:
            times = min(times, count)
        _budget().spend(len(text) + times * max(len(new) - len(old), 0))
        return FILTERS["replace"](ctx, text, old, new, count)

    def join(ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
        budget = _budget()
        if isinstance(value, str | list | tuple | dict | range):
            items = list(value)  # its size was paid for as the filter's value
        else:
            items = []
            for item in value:
                budget.step()
                items.append(item)
        for item in items:
            budget.spend(_size(item, budget.work))
        budget.spend(len(str(d)) * max(len(items) - 1, 0))
        return FILTERS["join"](ctx, items, d, attribute)

    def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        if fill_with is not None:
            _budget().spend(max(linecount, 0))
        return FILTERS["batch"](value, linecount, fill_with)

    def slice_(ctx: Any, value: Any, slices: int, fill_with: Any = None) -> Any:
        _budget().spend(max(slices, 0))
        return FILTERS["slice"](ctx, value, slices, fill_with)

    bounded: dict[str, Callable[..., Any]] = {
        "center": center,
        "indent": indent,
        "format": format_,
        "wordwrap": wordwrap,
        "replace": replace,
        "join": join,
        "batch": batch,
        "slice": slice_,
    }
    return {name: _charged(name, FILTERS[name], bounded.get(name)) for name in FILTERS_ALLOWED}


def _charged(
    name: str, original: Callable[..., Any], bounded: Callable[..., Any] | None
) -> Callable[..., Any]:
    """`bounded` (or `original`) with the pass-argument marker of `original`, costing a step,
    what it reads (its value) and what it returns."""
    pass_arg = getattr(original, "jinja_pass_arg", None)
    offset = 0 if pass_arg is None else 1
    inner = bounded or original
    cheap = name in _CHEAP_FILTERS

    @wraps(original)
    def filter_(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        if not cheap and len(args) > offset:
            budget.read(args[offset])
        result = inner(*args, **kwargs)
        if isinstance(result, str | list | tuple | dict):
            budget.read(result)
        return result

    return filter_  # `wraps` kept the pass-argument marker


def _charged_test(test: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(test)
    def test_(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        budget.read(*args)
        return test(*args, **kwargs)

    return test_


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_TEMPLATE_STEPS:
        raise _Exceeded(f"a range of more than {MAX_TEMPLATE_STEPS:,} numbers")
    return result


def _finalize(value: Any) -> str:
    """Every `{{ … }}` output: None as empty, anything else paid for before it is text."""
    if value is None:
        return ""
    _budget().read(value)
    return value if isinstance(value, str) else str(value)


def _data_size(body: list[nodes.Node]) -> int:
    return sum(len(d.data) for node in body for d in node.find_all(nodes.TemplateData))


class _CodeGenerator(CodeGenerator):
    """Compiles `~`, comparisons and slices to bounded environment methods."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("environment.compare(")
        self.visit(node.expr, frame)
        self.write(", (")
        for op in node.ops:
            self.write(f"({op.op!r}, ")
            self.visit(op.expr, frame)
            self.write("), ")
        self.write("))")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.getitem(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
            self.write(", ")
        self.write("))")


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        budget = _budget()
        if operator_ == "%":
            if isinstance(left, str):
                return _percent(left, right)
            return left % right
        if operator_ == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                budget.spend(len(left) + len(right))
            return left + right
        if operator_ == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                _check_bits(left.bit_length() * right)
            return left**right
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                budget.spend(len(seq) * max(count, 0))
        if isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length())
        return left * right

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.step()
        method = isinstance(__obj, BuiltinMethodType)
        if method:
            budget.read(__obj.__self__)
        result = super().call(__context, __obj, *args, **kwargs)
        if method and isinstance(result, str | list | tuple | dict):
            budget.read(result)
        return result

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        if isinstance(argument, slice) and isinstance(value, str | list | tuple):
            _budget().spend(len(value))
        return value

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        for kind, allowed in _METHODS:
            if isinstance(obj, kind):
                return attr in allowed
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        return None  # `str.format` is not an allowed method; the `format` filter is bounded

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        _budget().read(*parts)
        return "".join(map(str, parts))

    def compare(self, left: Any, ops: tuple[tuple[str, Any], ...]) -> bool:
        budget = _budget()
        for op, right in ops:
            if op in ("in", "notin"):
                budget.read(right)
            else:
                budget.spend(min(_size(left, budget.work), _size(right, budget.work)))
            if not _COMPARE[op](left, right):
                return False
            left = right
        return True

    def tick(self, size: int) -> bool:
        """Called at the start of every loop pass (and before a loop's filter), macro and call
        block with the size of its literal text; the call itself costs the step."""
        _budget().spend(size)
        return True


_ENV = _Environment(
    undefined=StrictUndefined,
    autoescape=False,
    finalize=_finalize,
    optimized=False,  # nothing of a template is evaluated while compiling it
)
_ENV.globals.clear()
_ENV.globals["range"] = _bounded_range
_ENV.filters = _bounded_filters()
_ENV.tests = {name: _charged_test(cast(Callable[..., Any], t)) for name, t in _ENV.tests.items()}


def _parse(source: str) -> nodes.Template:
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"Template syntax error on line {exc.lineno}: {exc.message}", exc.lineno
        ) from exc


def _tick(size: int, lineno: int) -> nodes.Call:
    attr = nodes.EnvironmentAttribute("tick", lineno=lineno)
    return nodes.Call(attr, [nodes.Const(size, lineno=lineno)], [], None, None, lineno=lineno)


def _instrument(tree: nodes.Template) -> nodes.Template:
    """Every loop pass (filtered out or not), macro and call block calls `environment.tick`."""
    found = tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock))
    for node in list(cast(Iterable[nodes.For | nodes.Macro | nodes.CallBlock], found)):
        size = _data_size(node.body)
        node.body.insert(0, nodes.ExprStmt(_tick(size, node.lineno), lineno=node.lineno))
        if isinstance(node, nodes.For) and node.test is not None:
            node.test = nodes.And(_tick(0, node.lineno), node.test, lineno=node.lineno)
    return tree


@lru_cache(maxsize=1024)
def _fields(source: str) -> frozenset[str]:
    try:
        return frozenset(meta.find_undeclared_variables(_parse(source)))
    except TemplateSyntaxError as exc:  # an unknown filter or test
        raise TemplateProblem(
            f"Template error on line {exc.lineno}: {exc.message}", exc.lineno
        ) from exc


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    # The environment is immutable and sandboxed, so compiled templates can be shared.
    try:
        return _ENV.from_string(_instrument(_parse(source)))
    except TemplateSyntaxError as exc:  # an unknown filter or test
        raise TemplateProblem(
            f"Template error on line {exc.lineno}: {exc.message}", exc.lineno
        ) from exc


def template_fields(source: str) -> set[str]:
    """The top-level variables `source` references; raises `TemplateProblem` on a syntax error."""
    return set(_fields(source))


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render(template: Template, fields: Mapping[str, Any], max_output: int) -> str:
    """Render under a fresh budget, streaming, stopping once past `max_output` characters;
    raises `_Exceeded` and whatever the template raises."""
    token = _BUDGET.set(_Budget())
    try:
        pieces: list[str] = []
        length = 0
        for piece in template.generate(dict(fields)):
            length += len(piece)
            if length > max_output:
                raise _Exceeded(f"its output would be longer than {max_output:,} characters")
            pieces.append(piece)
        return "".join(pieces)
    finally:
        _BUDGET.reset(token)


def _too_large(exc: _Exceeded) -> TemplateProblem:
    line = _template_line(exc.__traceback__)
    where = f" (line {line})" if line else ""
    return TemplateProblem(
        f"Template is too large{where}: {exc}.", line, ErrorCode.TEMPLATE_TOO_LARGE
    )


def render_template(
    source: str, fields: Mapping[str, Any], max_output: int = MAX_TEMPLATE_OUTPUT
) -> str:
    """Render `source` with `fields` as its variables, at most `max_output` characters;
    raises `TemplateProblem` on any failure (TEMPLATE_TOO_LARGE when a bound stopped it)."""
    template = _compiled(source)
    try:
        return _render(template, fields, max_output)
    except _Exceeded as exc:
        raise _too_large(exc) from None
    except SecurityError as exc:
        raise TemplateProblem(f"Template uses something that is not allowed: {exc}") from exc
    except TemplateError as exc:
        raise TemplateProblem(f"Template could not be rendered: {exc.message}") from exc
    except Exception as exc:  # arithmetic or filter errors inside user-written templates
        raise TemplateProblem(f"Template could not be rendered: {exc}") from exc


_SAMPLES: dict[FieldType, Any] = {
    FieldType.TEXT: "Sample text",
    FieldType.NUMBER: 1,
    FieldType.BOOLEAN: True,
    FieldType.DATE: "2024-01-31",
    FieldType.USER_LOOKUP: "user@example.com",
    FieldType.EMAIL: "name@example.com",
    FieldType.PHONE: "+47 22 00 00 00",
}


@lru_cache(maxsize=1024)
def _sample_problem(
    source: str, fields: tuple[tuple[str, FieldType, str], ...], max_output: int
) -> tuple[ErrorCode, str] | None:
    """What rendering `source` with sample values shows about it whatever the values are: a
    bound passed, a filter or test that does not exist, something not allowed."""
    values: dict[str, Any] = {
        name: option if kind is FieldType.OPTION_SET else _SAMPLES[kind]
        for name, kind, option in fields
    }
    values["record"] = {"name": "Sample record", "external_id": "sample-1"}
    values["sender"] = {
        "email": "sender@example.com",
        "name": "Sample Sender",
        "reply_to": "replies@example.com",
        "signature": "Sample Sender\nSample Company",
    }
    try:
        _render(_compiled(source), values, max_output)
    except TemplateProblem as exc:
        return exc.code, exc.message
    except _Exceeded as exc:
        problem = _too_large(exc)
        return problem.code, problem.message
    except SecurityError as exc:
        return ErrorCode.TEMPLATE_ERROR, f"Template uses something that is not allowed: {exc}"
    except Exception:  # the values decide (a division by a field, say): run time will tell
        return None
    return None


def _sender_names(source: str) -> set[str]:
    """The names read from `sender` (`sender.name`, `sender['name']`)."""
    names = set()
    tree = _parse(source)
    for attr in tree.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name) and attr.node.name == "sender":
            names.add(attr.attr)
    for item in tree.find_all(nodes.Getitem):
        key = item.arg.value if isinstance(item.arg, nodes.Const) else None
        if (
            isinstance(item.node, nodes.Name)
            and item.node.name == "sender"
            and isinstance(key, str)
        ):
            names.add(key)
    return names


def check_template(
    source: str,
    record_type: RecordTypeInfo,
    path: tuple[str, ...],
    max_output: int = MAX_TEMPLATE_OUTPUT,
) -> list[Problem]:
    """Problems with `source` for records of `record_type`, each at field path `path`.

    TEMPLATE_ERROR for a syntax error, an unknown filter or something not allowed;
    UNKNOWN_MERGE_FIELD for each variable that is neither a field of the record type nor one
    of `TEMPLATE_GLOBALS`, and for each `sender.<name>` not in `SENDER_FIELDS`;
    TEMPLATE_TOO_LARGE when rendering it with sample values passes a bound (output longer than
    `max_output`, too many steps, too much work).
    """
    try:
        names = template_fields(source)
    except TemplateProblem as exc:
        return [Problem(ErrorCode.TEMPLATE_ERROR, exc.message, path)]
    unknown = sorted(names - TEMPLATE_GLOBALS - record_type.fields.keys())
    if unknown:
        return [
            Problem(
                ErrorCode.UNKNOWN_MERGE_FIELD,
                f"Merge field '{name}' is not a field of record type '{record_type.name}'.",
                path,
            )
            for name in unknown
        ]
    if "sender" in names:
        unknown = sorted(_sender_names(source) - SENDER_FIELDS)
        if unknown:
            known = ", ".join(sorted(SENDER_FIELDS))
            return [
                Problem(
                    ErrorCode.UNKNOWN_MERGE_FIELD,
                    f"Merge field 'sender.{name}' is not known (sender has {known}).",
                    path,
                )
                for name in unknown
            ]
    used = [record_type.fields[name] for name in sorted(names - TEMPLATE_GLOBALS)]
    fields = tuple((f.name, f.type, f.options[0] if f.options else "") for f in used)
    problem = _sample_problem(source, fields, max_output)
    return [] if problem is None else [Problem(*problem, path)]
