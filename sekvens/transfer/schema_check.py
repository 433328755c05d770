"""A JSON Schema compiled to plain Python checks: `is_valid` without jsonschema's keyword
dispatch, for the documents an import validates (a 1,000-sequence document has 20,000 steps).

`compile_schema` handles the keywords the sequences document uses, each exactly as
jsonschema's Draft 2020-12 validator does on JSON values (dict, list, str, int, float, bool,
None); a node with any other keyword is checked by jsonschema itself. The
schema's `$ref`s must be inlined first. Only the verdict comes from here: the problems of an
invalid document still come from jsonschema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples"}
)
_COMPILED = frozenset(
    {
        "type",
        "enum",
        "const",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "items",
        "uniqueItems",
        "required",
        "properties",
        "additionalProperties",
        "propertyNames",
        "oneOf",
    }
)
_OBJECT_KEYWORDS = ("required", "properties", "additionalProperties", "propertyNames")
_SCALARS = (str, int, float, bool, type(None))


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": _is_integer,
    "number": _is_number,
}


def _equal(expected: Any, value: Any) -> bool:
    """jsonschema's equality, for a scalar `expected`: True and 1 differ, 1 and 1.0 don't."""
    if isinstance(expected, str) or isinstance(value, str):
        return bool(expected == value)
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    return bool(expected == value)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda _: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    return lambda v: all(check(v) for check in checks)


def _enum(values: list[Any]) -> Check:
    if all(e is None or isinstance(e, str) for e in values):
        # Texts equal only texts, None only None: one set lookup.
        texts, none = frozenset(e for e in values if e is not None), None in values
        return lambda v: v in texts if isinstance(v, str) else (none and v is None)
    return lambda v: any(_equal(e, v) for e in values)


def _type(node: dict[str, Any]) -> Check:
    names = node["type"] if isinstance(node["type"], list) else [node["type"]]
    checks = [_TYPES[name] for name in names]
    if len(checks) == 1:
        return checks[0]
    return lambda v: any(check(v) for check in checks)


def _string(node: dict[str, Any], typed: bool) -> Check:
    """minLength, maxLength, pattern; `typed`: and type "string"."""
    low, high = node.get("minLength", 0), node.get("maxLength")
    pattern = re.compile(node["pattern"]) if "pattern" in node else None

    def check(v: Any) -> bool:
        if not isinstance(v, str):
            return not typed
        if len(v) < low or (high is not None and len(v) > high):
            return False
        return pattern is None or pattern.search(v) is not None

    return check


def _bounds(node: dict[str, Any]) -> Check:
    """minimum, maximum (inclusive; only numbers are bounded, and booleans are no numbers)."""
    low, high = node.get("minimum"), node.get("maximum")
    return lambda v: (
        not _is_number(v) or ((low is None or v >= low) and (high is None or v <= high))
    )


def _array(node: dict[str, Any]) -> Check:
    low, high = node.get("minItems", 0), node.get("maxItems")
    each = compile_schema(node["items"]) if "items" in node else None
    # Texts are unique when a set of them is as long; other items as jsonschema compares them.
    unique = (
        Draft202012Validator({"uniqueItems": True}).is_valid if node.get("uniqueItems") else None
    )

    def check(v: Any) -> bool:
        if not isinstance(v, list):
            return True
        if len(v) < low or (high is not None and len(v) > high):
            return False
        if unique is not None and not (
            len(set(v)) == len(v) if all(isinstance(item, str) for item in v) else unique(v)
        ):
            return False
        return each is None or all(each(item) for item in v)

    return check


def _object(node: dict[str, Any], typed: bool) -> Check:
    """required, properties, additionalProperties, propertyNames; `typed`: and type
    "object"."""
    required = tuple(node.get("required", ()))
    properties = {name: compile_schema(sub) for name, sub in node.get("properties", {}).items()}
    extra = node.get("additionalProperties", True)
    others: Check | None = None if isinstance(extra, bool) else compile_schema(extra)
    closed = extra is False
    names = compile_schema(node["propertyNames"]) if "propertyNames" in node else None

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return not typed
        for name in required:
            if name not in v:
                return False
        for name, value in v.items():
            if names is not None and not names(name):
                return False
            own = properties.get(name)
            if own is not None:
                if not own(value):
                    return False
            elif closed or (others is not None and not others(value)):
                return False
        return True

    return check


def compile_schema(node: Any) -> Check:
    """`node`'s `is_valid` (a schema whose `$ref`s are inlined)."""
    if not isinstance(node, dict):  # a boolean schema
        return Draft202012Validator(node).is_valid
    keywords = node.keys() - _ANNOTATIONS
    names = node.get("type", [])
    enum = [node["const"]] if "const" in node else node.get("enum", [])
    if (
        not keywords <= _COMPILED
        or not set(names if isinstance(names, list) else [names]) <= _TYPES.keys()
        or not all(isinstance(e, _SCALARS) for e in enum)
        or ("enum" in node and "const" in node)
        or isinstance(node.get("items"), bool)
        or not all(_is_number(node[k]) for k in ("minimum", "maximum") if k in node)
    ):
        return Draft202012Validator(node).is_valid
    checks: list[Check] = []
    # A single type "string" or "object" is checked with that type's other keywords.
    typed = names if isinstance(names, str) else None
    if "type" in node and typed not in ("string", "object"):
        checks.append(_type(node))
    if "enum" in node or "const" in node:
        checks.append(_enum(enum))
    if typed == "string" or keywords & {"minLength", "maxLength", "pattern"}:
        checks.append(_string(node, typed == "string"))
    if keywords & {"minimum", "maximum"}:
        checks.append(_bounds(node))
    if keywords & {"minItems", "maxItems", "items", "uniqueItems"}:
        checks.append(_array(node))
    if typed == "object" or keywords.intersection(_OBJECT_KEYWORDS):
        checks.append(_object(node, typed == "object"))
    if "oneOf" in node:
        options = [compile_schema(sub) for sub in node["oneOf"]]
        checks.append(lambda v: sum(1 for option in options if option(v)) == 1)
    return _all(checks)
