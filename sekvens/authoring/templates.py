"""Sequence templates: the built-ins shipped with sekvens and the ones an organization saves.

A template is a named set of steps for one record type; a sequence created from it starts
with a copy of those steps. Built-ins live in `builtin_templates.json` next to this module
(ids `builtin:<slug>`); an organization's own live in the `sequence_templates` table (ids are
global ids of type `SequenceTemplate`).
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.authoring import sequences
from sekvens.domain import sequence_access as access
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.global_ids import from_global_id, key_of, to_global_id
from sekvens.domain.roles import Actor, describe
from sekvens.domain.sequence_graph import START_TYPE, WAIT_TYPE, Step
from sekvens.domain.sequence_rules import check_description, check_name
from sekvens.plugins.registry import Registry
from sekvens.storage import audit
from sekvens.storage.tables import SequenceTemplate

BUILTIN_FILE = "builtin_templates.json"
BUILTIN_PREFIX = "builtin:"
TEMPLATE_TYPE = "SequenceTemplate"
"""The global-id type name of an organization's templates."""


@dataclass
class Template:
    id: str
    name: str
    description: str
    record_type: str
    steps: list[Step] = field(default_factory=list)
    is_builtin: bool = False

    @property
    def step_count(self) -> int:
        return step_count(self.steps)

    @property
    def duration(self) -> timedelta:
        return duration(self.steps)


def step_count(steps: list[Step]) -> int:
    """The steps a template shows in its count: everything but START and waits."""
    return sum(1 for s in steps if s.type not in (START_TYPE, WAIT_TYPE))


def wait_of(step: Step) -> timedelta:
    if step.type != WAIT_TYPE:
        return timedelta(0)
    days, hours = step.config.get("days", 0), step.config.get("hours", 0)
    if not isinstance(days, int) or not isinstance(hours, int):
        return timedelta(0)  # an invalid wait; its problems show on the sequence
    return timedelta(days=max(days, 0), hours=max(hours, 0))


def duration(steps: list[Step]) -> timedelta:
    """The waits along the longest path from START to the end of any branch, summed.

    Condition time limits are not counted: a condition's YES path may start as soon as the
    event happens, and its NO path's timing belongs to the waits the designer sets.
    """
    children: dict[str | None, list[Step]] = defaultdict(list)
    for s in steps:
        children[s.parent].append(s)
    roots = [s for s in steps if s.parent is None]
    longest = timedelta(0)
    stack = [(root, wait_of(root)) for root in roots]
    seen: set[str] = set()
    while stack:
        step, total = stack.pop()
        if step.key in seen:  # a malformed (cyclic) list: count each step once
            continue
        seen.add(step.key)
        longest = max(longest, total)
        stack.extend((c, total + wait_of(c)) for c in children.get(step.key, ()))
    return longest


# --- Steps as stored data ---------------------------------------------------------------


def step_to_dict(step: Step) -> dict[str, Any]:
    return {
        "key": step.key,
        "type": step.type,
        "name": step.name,
        "description": step.description,
        "config": copy.deepcopy(step.config),
        "parent": step.parent,
        "branch": step.branch,
    }


def step_from_dict(data: dict[str, Any]) -> Step:
    return Step(
        key=str(data["key"]),
        type=str(data["type"]),
        name=str(data.get("name") or ""),
        description=str(data.get("description") or ""),
        config=copy.deepcopy(dict(data.get("config") or {})),
        parent=data.get("parent"),
        branch=data.get("branch"),
    )


# --- Built-ins ----------------------------------------------------------------------------


@cache
def _builtin_data() -> tuple[dict[str, Any], ...]:
    text = resources.files("sekvens.authoring").joinpath(BUILTIN_FILE).read_text("utf-8")
    data = json.loads(text)
    for item in data:
        if not str(item["id"]).startswith(BUILTIN_PREFIX):
            raise ValueError(f"Built-in template id '{item['id']}' must start with 'builtin:'.")
    return tuple(data)


def _from_data(data: dict[str, Any]) -> Template:
    return Template(
        id=data["id"],
        name=data["name"],
        description=data.get("description", ""),
        record_type=data["record_type"],
        steps=[step_from_dict(s) for s in data["steps"]],
        is_builtin=True,
    )


def builtin_templates() -> list[Template]:
    """The built-in templates, in their file's order; fresh objects on each call (callers
    may hand the steps to a sequence, whose designer edits them)."""
    return [_from_data(d) for d in _builtin_data()]


def builtin_template(template_id: str) -> Template | None:
    return next((_from_data(d) for d in _builtin_data() if d["id"] == template_id), None)


# --- Organization templates ---------------------------------------------------------------


def template_gid(pk: int) -> str:
    return to_global_id(TEMPLATE_TYPE, pk)


def _from_row(row: SequenceTemplate) -> Template:
    return Template(
        id=template_gid(row.id),
        name=row.name,
        description=row.description,
        record_type=row.record_type,
        steps=[step_from_dict(s) for s in row.steps],
        is_builtin=False,
    )


async def list_templates(
    session: AsyncSession, organization_id: int, record_type: str | None = None
) -> list[Template]:
    """Built-ins first (in their file's order), then the organization's own by name."""
    stmt = select(SequenceTemplate).where(SequenceTemplate.organization_id == organization_id)
    if record_type is not None:
        stmt = stmt.where(SequenceTemplate.record_type == record_type)
    rows = await session.scalars(stmt.order_by(SequenceTemplate.name, SequenceTemplate.id))
    builtins = [
        t for t in builtin_templates() if record_type is None or t.record_type == record_type
    ]
    return builtins + [_from_row(r) for r in rows]


def _not_found(template_id: str) -> DomainError:
    return DomainError.of(
        ErrorCode.NOT_FOUND,
        f"No template '{template_id}'; sequenceTemplates lists those there are.",
        ["templateId"],
    )


async def get_template(session: AsyncSession, organization_id: int, template_id: str) -> Template:
    """A built-in or one of the organization's own; NOT_FOUND (field templateId) otherwise."""
    if template_id.startswith(BUILTIN_PREFIX):
        template = builtin_template(template_id)
        if template is None:
            raise _not_found(template_id)
        return template
    kind, pk = from_global_id(template_id)
    key = key_of(pk) if kind == TEMPLATE_TYPE else None
    if key is None:
        raise _not_found(template_id)
    row = await session.get(SequenceTemplate, key)
    if row is None or row.organization_id != organization_id:
        raise _not_found(template_id)
    return _from_row(row)


async def _check_unique_name(session: AsyncSession, organization_id: int, name: str) -> None:
    folded = name.casefold()
    taken = any(t.name.casefold() == folded for t in builtin_templates())
    if not taken:
        names = await session.scalars(
            select(SequenceTemplate.name).where(SequenceTemplate.organization_id == organization_id)
        )
        taken = any(n.casefold() == folded for n in names)
    if taken:
        raise DomainError.of(
            ErrorCode.DUPLICATE, f"A template named '{name}' exists already.", ["name"]
        )


async def save_as_template(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequence_id: int,
    name: str,
    description: str | None,
) -> Template:
    """Save the steps of a sequence's design version (its newest) as an organization template.

    Allowed for whoever may edit organization sequences, and for the owner of a personal
    sequence. Template names are unique within the organization, built-ins included.
    """
    seq = await sequences.get_sequence(session, actor, sequence_id, edit=False)
    org = await sequences.organization(session, actor)
    mine = seq.is_personal and seq.owner_user_id == actor.user_id
    if not (mine or actor.has_any(access.ORG_SEQUENCE_EDITORS)):
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            "Saving a sequence as a template needs the role "
            f"{describe(access.ORG_SEQUENCE_EDITORS)}, or a personal sequence of your own.",
        )
    description = description or ""
    problems: list[Problem] = check_name(name) + check_description(description)
    if problems:
        raise DomainError(problems)
    name = name.strip()
    await _check_unique_name(session, org.id, name)
    ws = await sequences.workspace(session, registry, org, seq)
    steps = ws.graph.to_list()
    row = SequenceTemplate(
        organization_id=org.id,
        name=name,
        description=description,
        record_type=ws.checker.record_type.name,
        steps=[step_to_dict(s) for s in steps],
        created_by_id=actor.user_id,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # another request saved the same name a moment ago
        raise DomainError.of(
            ErrorCode.DUPLICATE, f"A template named '{name}' exists already.", ["name"]
        ) from None
    audit.record(
        session,
        org.id,
        actor.user_id,
        "template.created",
        "sequence_template",
        row.id,
        {"name": name, "sequence_id": seq.id, "version": ws.version.number},
    )
    audit.record(
        session,
        org.id,
        actor.user_id,
        "sequence.saved_as_template",
        "sequence",
        seq.id,
        {"template_id": template_gid(row.id), "name": name},
        ws.version.number,
    )
    return _from_row(row)
