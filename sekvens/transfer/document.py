"""The sequences document: its format, its JSON Schema, and the checks that need no database.

`read_document` turns untrusted input (bytes, text, or an already parsed JSON value) into a
document or a list of precise problems: too large (before parsing), not JSON, not a sekvens
document, a newer version, a schema failure, duplicate keys, advance-to-sequence loops.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from sekvens.domain.errors import ErrorCode
from sekvens.transfer.schema_check import Check, compile_schema

FORMAT = "sekvens.sequences"
VERSION = 4
SCHEMA_FILE = "document.schema.json"

#: Step configs that name another sequence: step type -> config property. Export writes the
#: target's stable key there; import remaps it (COPY gives a sequence a new key).
SEQUENCE_REFERENCES: dict[str, str] = {"commands.advance_to_sequence": "sequence"}

DEFAULT_MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_SCHEMA_PROBLEMS = 50
MESSAGE_MAX = 300

Path = tuple[str, ...]


@dataclass(frozen=True)
class TransferProblem:
    """Something that stops an import. `path` points into the document (JSON keys and list
    indexes); `sequence_key` and `step_key` name the sequence and step it concerns."""

    code: ErrorCode
    message: str
    path: Path = ()
    sequence_key: str | None = None
    step_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "message": self.message,
            "path": list(self.path),
            "sequenceKey": self.sequence_key,
            "stepKey": self.step_key,
        }


# --- Settings --------------------------------------------------------------------------------


def max_import_bytes(settings: object = None, environ: Mapping[str, str] | None = None) -> int:
    """The largest document an import reads: `settings.max_import_bytes` when the settings
    have it, else SEKVENS_MAX_IMPORT_BYTES, else 10 MiB."""
    configured = getattr(settings, "max_import_bytes", None)
    if isinstance(configured, int):
        return configured
    raw = (os.environ if environ is None else environ).get("SEKVENS_MAX_IMPORT_BYTES", "")
    return int(raw) if raw.strip() else DEFAULT_MAX_IMPORT_BYTES


def environment_name(
    settings: object = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The name an export gives its environment: `settings.environment_name`, else
    SEKVENS_ENVIRONMENT, else None."""
    configured = getattr(settings, "environment_name", None)
    if isinstance(configured, str):
        return configured or None
    raw = (os.environ if environ is None else environ).get("SEKVENS_ENVIRONMENT", "")
    return raw.strip() or None


# --- The JSON Schema -------------------------------------------------------------------------


def schema_text() -> str:
    """The JSON Schema of the document as shipped in the package (docs/ holds a copy)."""
    return resources.files("sekvens.transfer").joinpath(SCHEMA_FILE).read_text("utf-8")


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


def _inlined(node: Any, defs: Mapping[str, Any]) -> Any:
    """`node` with every local `{"$ref": "#/$defs/name"}` replaced by the definition itself
    (the schema's references are not recursive and have no sibling keywords)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) == 1 and ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inlined(v, defs) for v in node]
    return node


@cache
def _inlined_schema() -> dict[str, Any]:
    loaded = schema()
    inlined: dict[str, Any] = _inlined(loaded, loaded.get("$defs", {}))
    return inlined


@cache
def _validator() -> Draft202012Validator:
    """Built once, from the schema with its `$ref`s inlined: validating then resolves no
    reference per step (that resolving was half an import's time)."""
    return Draft202012Validator(_inlined_schema())


@cache
def compiled_schema() -> Check:
    """The schema compiled to plain checks: the verdict of `_validator().is_valid`, in a
    fraction of its time (`schema_check`)."""
    return compile_schema(_inlined_schema())


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def _schema_problem(error: ValidationError) -> TransferProblem:
    """A schema violation as an INVALID_DOCUMENT problem whose message says what is wrong."""
    path = tuple(str(p) for p in error.absolute_path)
    value, instance = error.validator_value, error.instance
    message = _short(error.message)
    if error.validator == "required" and isinstance(instance, dict):
        missing = next((p for p in value if p not in instance), None)
        if missing is not None:
            return TransferProblem(
                ErrorCode.INVALID_DOCUMENT, f"'{missing}' is required.", (*path, missing)
            )
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in known)
        if extra:
            return TransferProblem(
                ErrorCode.INVALID_DOCUMENT,
                f"Unknown property '{extra[0]}'; allowed: {', '.join(sorted(known))}.",
                (*path, extra[0]),
            )
    elif error.validator == "maxLength":
        message = f"At most {value} characters."
    elif error.validator == "minLength":
        message = "Must not be empty." if value == 1 else f"At least {value} characters."
    elif error.validator == "minimum":
        message = f"At least {value}."
    elif error.validator == "maximum":
        message = f"At most {value}."
    elif error.validator == "maxItems":
        message = f"At most {value} items."
    elif error.validator == "enum":
        message = f"Must be one of {', '.join(json.dumps(v) for v in value)}."
    elif error.validator == "const":
        message = f"Must be {json.dumps(value)}."
    elif error.validator == "type":
        types = value if isinstance(value, list) else [value]
        message = f"Must be of type {' or '.join(types)}."
    elif error.validator == "uniqueItems":
        message = "The list holds the same value twice."
    return TransferProblem(ErrorCode.INVALID_DOCUMENT, message, path)


def schema_problems(document: Any) -> list[TransferProblem]:
    """Where `document` breaks the JSON Schema, in document order (at most 50)."""
    if compiled_schema()(document):
        return []
    errors = itertools.islice(_validator().iter_errors(document), 20 * MAX_SCHEMA_PROBLEMS)
    problems = sorted((_schema_problem(e) for e in errors), key=lambda p: _path_order(p.path))
    return problems[:MAX_SCHEMA_PROBLEMS]


def _path_order(path: Path) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in path)


# --- Reading untrusted input ----------------------------------------------------------------


class _DuplicateMember(ValueError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _no_duplicate_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # some name twice: the first one repeated
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateMember(name)
            seen.add(name)
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def too_large(size: int | None, limit: int) -> TransferProblem:
    """The problem of a document over `limit` bytes (`size` None: not known exactly)."""
    is_ = f"is {size} bytes" if size is not None else "is larger"
    return TransferProblem(
        ErrorCode.DOCUMENT_TOO_LARGE,
        f"The document {is_}, more than the {limit} bytes an import accepts"
        " (SEKVENS_MAX_IMPORT_BYTES); split the export into smaller documents.",
    )


def parse_json(raw: str | bytes, max_bytes: int) -> tuple[Any, list[TransferProblem]]:
    """The JSON value of `raw`, refusing oversized input before parsing it."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return None, [too_large(size, max_bytes)]
    try:
        return json.loads(
            raw, object_pairs_hook=_no_duplicate_members, parse_constant=_refuse_constant
        ), []
    except _DuplicateMember as e:
        return None, [
            TransferProblem(
                ErrorCode.DUPLICATE,
                f"A JSON object has the member '{e.name}' twice; which one counts is ambiguous.",
            )
        ]
    except json.JSONDecodeError as e:
        message = f"The document is not JSON: {e.msg} (line {e.lineno}, column {e.colno})."
        return None, [TransferProblem(ErrorCode.INVALID_DOCUMENT, message)]
    except (ValueError, UnicodeDecodeError) as e:
        return None, [
            TransferProblem(ErrorCode.INVALID_DOCUMENT, f"The document is not JSON: {e}.")
        ]
    except RecursionError:
        return None, [TransferProblem(ErrorCode.INVALID_DOCUMENT, "The document nests too deeply.")]


def read_document(raw: Any, max_bytes: int) -> tuple[dict[str, Any] | None, list[TransferProblem]]:
    """A checked document from bytes, JSON text, or a parsed JSON value, or its problems.

    Text is measured against `max_bytes` before it is parsed; a parsed value is measured by
    its compact serialization (its transport had its own limit). Then: is it a sekvens
    document, of a version this reader knows, valid against the JSON Schema, with unique
    keys and no advance-to-sequence loops?
    """
    if isinstance(raw, str | bytes | bytearray):
        document, problems = parse_json(
            bytes(raw) if isinstance(raw, bytearray) else raw, max_bytes
        )
        if problems:
            return None, problems
    else:
        document = raw
        try:
            size = len(json.dumps(document, separators=(",", ":")).encode())
        except (TypeError, ValueError, RecursionError):
            return None, [TransferProblem(ErrorCode.INVALID_DOCUMENT, "The document is not JSON.")]
        if size > max_bytes:
            return None, [too_large(size, max_bytes)]
    if not isinstance(document, dict):
        return None, [
            TransferProblem(ErrorCode.INVALID_DOCUMENT, "A sequences document is a JSON object.")
        ]
    if document.get("format") != FORMAT:
        return None, [
            TransferProblem(
                ErrorCode.UNSUPPORTED_FORMAT_VERSION,
                f"This is not a sekvens sequences document: 'format' must be '{FORMAT}'.",
                ("format",),
            )
        ]
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
        return None, [
            TransferProblem(
                ErrorCode.UNSUPPORTED_FORMAT_VERSION,
                f"The document has format version {version}; this sekvens reads version"
                f" {VERSION} and older. Upgrade sekvens here, or export with the version"
                " this environment runs.",
                ("version",),
            )
        ]
    try:
        problems = schema_problems(document)
    except RecursionError:
        problems = [TransferProblem(ErrorCode.INVALID_DOCUMENT, "The document nests too deeply.")]
    if problems:
        return None, problems
    problems = duplicate_problems(document) + cycle_problems(document)
    return (None, problems) if problems else (document, [])


# --- Checks on a schema-valid document ------------------------------------------------------


def _duplicates(
    items: list[dict[str, Any]], name: str, path: Path, what: str, fold: bool = False
) -> Iterator[TransferProblem]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        value = item[name].casefold() if fold else item[name]
        if value in seen:
            yield TransferProblem(
                ErrorCode.DUPLICATE,
                f"{what} '{item[name]}' appears twice (also at index {seen[value]}).",
                (*path, str(i), name),
            )
        else:
            seen[value] = i


def duplicate_problems(document: dict[str, Any]) -> list[TransferProblem]:
    """Two sequences with one key, two steps of a sequence with one key, a record type, field
    or team listed twice."""
    sequences = document["sequences"]
    problems = list(_duplicates(sequences, "key", ("sequences",), "Sequence key"))
    for i, seq in enumerate(sequences):
        for p in _duplicates(seq["steps"], "key", ("sequences", str(i), "steps"), "Step key"):
            problems.append(
                TransferProblem(
                    p.code, p.message, p.path, seq["key"], seq["steps"][int(p.path[3])]["key"]
                )
            )
    record_types = document.get("recordTypes", [])
    problems += _duplicates(record_types, "name", ("recordTypes",), "Record type")
    for i, rt in enumerate(record_types):
        problems += _duplicates(
            rt.get("fields", []), "name", ("recordTypes", str(i), "fields"), "Field"
        )
    problems += _duplicates(document.get("teams", []), "name", ("teams",), "Team", fold=True)
    return problems


def sequence_references(seq: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """(step index, referenced sequence key or id) for each step that names a sequence."""
    for j, step in enumerate(seq["steps"]):
        prop = SEQUENCE_REFERENCES.get(step["type"])
        ref = (step.get("config") or {}).get(prop) if prop else None
        if isinstance(ref, str) and ref.strip():
            yield j, ref.strip()


def cycle_problems(document: dict[str, Any]) -> list[TransferProblem]:
    """One problem per loop of sequences that advance to one another (a sequence that
    advances to itself included): records would be handed round forever."""
    sequences = document["sequences"]
    index = {seq["key"]: i for i, seq in enumerate(sequences)}
    edges = {
        i: [(j, index[ref]) for j, ref in sequence_references(seq) if ref in index]
        for i, seq in enumerate(sequences)
    }
    problems: list[TransferProblem] = []
    reported: set[frozenset[int]] = set()
    done: set[int] = set()
    for start in range(len(sequences)):
        if start in done:
            continue
        stack = [(start, iter(edges[start]))]
        while stack:
            node, children = stack[-1]
            on_path = [n for n, _ in stack]
            for step_index, target in children:
                if target in on_path:
                    loop = on_path[on_path.index(target) :]
                    if frozenset(loop) not in reported:
                        reported.add(frozenset(loop))
                        problems.append(_cycle_problem(sequences, loop, node, step_index))
                elif target not in done:
                    stack.append((target, iter(edges[target])))
                    break
            else:
                done.add(node)
                stack.pop()
    return problems


def _cycle_problem(
    sequences: list[dict[str, Any]], loop: list[int], node: int, step_index: int
) -> TransferProblem:
    seq = sequences[node]
    step = seq["steps"][step_index]
    where = (
        "sequences",
        str(node),
        "steps",
        str(step_index),
        "config",
        SEQUENCE_REFERENCES[step["type"]],
    )
    if len(loop) == 1:
        return TransferProblem(
            ErrorCode.ADVANCE_TARGETS_ITSELF,
            f"Sequence '{seq['name']}' advances to itself.",
            where,
            seq["key"],
            step["key"],
        )
    names = " → ".join(f"'{sequences[n]['name']}'" for n in [*loop, loop[0]])
    return TransferProblem(
        ErrorCode.ADVANCE_CYCLE,
        f"These sequences advance to one another in a loop: {names}. Records would be handed"
        " round forever; break the loop before importing.",
        where,
        seq["key"],
        step["key"],
    )


def dependency_order(document: dict[str, Any]) -> list[int]:
    """Sequence indexes with every advance target before the sequences that advance to it
    (the order activation needs; `cycle_problems` has ruled loops out)."""
    sequences = document["sequences"]
    index = {seq["key"]: i for i, seq in enumerate(sequences)}
    order: list[int] = []
    seen: set[int] = set()
    for start in range(len(sequences)):
        if start in seen:
            continue
        seen.add(start)
        stack = [(start, sequence_references(sequences[start]))]
        while stack:
            node, refs = stack[-1]
            for _, ref in refs:
                target = index.get(ref)
                if target is not None and target not in seen:
                    seen.add(target)
                    stack.append((target, sequence_references(sequences[target])))
                    break
            else:
                order.append(node)
                stack.pop()
    return order


def dumps(document: dict[str, Any]) -> str:
    """The document as people and diff tools like it: indented, UTF-8, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
