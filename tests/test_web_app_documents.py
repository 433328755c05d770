"""Every GraphQL document of the reference web app is a constant of its module (none is built
from what a user types: values go in variables), so the server could run them as persisted
queries, and each one is valid against schema.graphql (docs/web-app.md). A document that the
API stops accepting fails here, before a browser finds it."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

ROOT = Path(__file__).resolve().parent.parent
WEBAPP = resources.files("sekvens") / "webapp"
#: A top-level constant holding a string or template literal.
CONSTANT = re.compile(
    r"^const ([A-Z][A-Z0-9_]*) =\s*(`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\");", re.M
)
#: A mutation run through api.js `mutate(name, input, selection)` or a screen's wrapper of it.
MUTATE_CALL = re.compile(r"(?<![\w$])(?:mutate|call)\(\s*\"(\w+)\",")
OPERATION = re.compile(r"^\s*(query|mutation|subscription)\b|^\s*\{")


def modules() -> dict[str, str]:
    return {f.name: f.read_text() for f in WEBAPP.iterdir() if f.name.endswith(".js")}


def constants(source: str) -> dict[str, str]:
    """The module's string constants with `${OTHER}` references to its constants resolved."""
    raw = {name: literal[1:-1] for name, literal in CONSTANT.findall(source)}
    resolved: dict[str, str] = {}

    def resolve(name: str, seen: tuple[str, ...] = ()) -> str:
        if name not in resolved:
            assert name not in seen, f"{name} refers to itself"
            resolved[name] = re.sub(
                r"\$\{([A-Z][A-Z0-9_]*)\}", lambda m: resolve(m[1], (*seen, name)), raw[name]
            )
        return resolved[name]

    return {name: resolve(name) for name in raw}


def mutation_document(name: str, selection: str) -> str:
    """The document api.js `mutate` sends (kept in step with it by test_mutate_is_as_read)."""
    type_name = name[0].upper() + name[1:] + "Input"
    return (
        f"mutation($input: {type_name}!) {{ {name}(input: $input) {{ "
        f"errors {{ code message field stepId index }} {selection} }} }}"
    )


def third_argument(source: str, start: int) -> str:
    """The text of the third argument of the call whose '(' is at `start`."""
    depth, args, current = 0, [], []
    quote: str | None = None
    for ch in source[start + 1 :]:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                args.append("".join(current))
                break
            depth -= 1
        elif ch == "," and depth == 0:
            args.append("".join(current))
            current = []
            continue
        current.append(ch)
    return args[2].strip()


def documents() -> list[tuple[str, str]]:
    """(where, document) for every document the app's modules hold or send."""
    found = []
    for module, source in sorted(modules().items()):
        consts = constants(source)
        for name, text in consts.items():
            if OPERATION.match(text) and not text.strip().startswith("{ code"):
                found.append((f"{module}:{name}", text))
        for call in MUTATE_CALL.finditer(source):
            selection = third_argument(source, call.end() - len(call[0]) + call[0].index("("))
            if selection.startswith('"'):
                selection = selection[1:-1]
            else:
                assert selection in consts, f"{module}: selection {selection} is not a constant"
                selection = consts[selection]
            found.append((f"{module}:{call[1]}", mutation_document(call[1], selection)))
    return found


SCHEMA = build_schema((ROOT / "schema.graphql").read_text())
DOCUMENTS = documents()


def test_the_app_has_its_documents() -> None:
    where = {w.split(":")[0] for w, _ in DOCUMENTS}
    assert {"home.js", "designer.js", "upnext.js", "insight.js", "app.js", "signin.js"} <= where


@pytest.mark.parametrize(("where", "document"), DOCUMENTS, ids=[w for w, _ in DOCUMENTS])
def test_every_document_is_valid_against_the_schema(where: str, document: str) -> None:
    errors = validate(SCHEMA, parse(document))
    assert not errors, f"{where}: {[e.message for e in errors]}"


def test_mutate_is_as_read() -> None:
    """api.js builds a mutation's document as `mutation_document` above does."""
    api = modules()["api.js"]
    assert "`mutation($input: ${inputType(name)}!) { ${name}(${argName}: $input) { `" in api
    assert "`errors { code message field stepId index } ${selection} } }`" in api
