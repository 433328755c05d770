"""Export: sequences with what they depend on, as a sequences document.

What a sequence references is found by asking its step types: each step is validated once
against its record type through views that note the fields and stages the plugin looks up
and the sequences it looks for, and every config text is read for merge fields. So partner
step types declare their dependencies without knowing about export.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.authoring import sequences as authoring
from sekvens.authoring.checks import Checker
from sekvens.domain import sequence_access as access
from sekvens.domain.enrollment import rules_of
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.life_cycles import SequenceStatus
from sekvens.domain.records import FieldInfo, RecordTypeInfo
from sekvens.domain.roles import Actor, describe
from sekvens.domain.send_windows import SendWindow
from sekvens.domain.sequence_graph import SequenceGraph, Step
from sekvens.domain.templates import TemplateProblem, template_fields
from sekvens.plugins.api import SequenceInfo
from sekvens.plugins.registry import Registry
from sekvens.storage import record_types
from sekvens.storage import sequences as store
from sekvens.storage import tags as tag_store
from sekvens.storage.tables import (
    Organization,
    RecordType,
    Sequence,
    SequenceVersion,
    Team,
    User,
)
from sekvens.storage.types import utcnow
from sekvens.transfer.document import FORMAT, SEQUENCE_REFERENCES, VERSION

#: Told (done, total) as an export reads, or an import writes, each sequence.
Progress = Callable[[int, int], None]


def check_transfer_role(actor: Actor) -> None:
    if not actor.has_any(access.SEQUENCE_ADMINS):
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            f"Exporting and importing sequences needs the role {describe(access.SEQUENCE_ADMINS)}.",
        )


def window_json(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """A send window as a document holds it (weekdays sorted); None: no window of its own."""
    window = SendWindow.from_json(stored)
    return window.to_json() if window is not None else None


def sekvens_version() -> str:
    try:
        return package_version("sekvens")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


class _SeenFields(Mapping[str, FieldInfo]):
    """A record type's fields that remember which ones were looked up by name."""

    def __init__(self, fields: Mapping[str, FieldInfo]):
        self._fields = fields
        self.seen: set[str] = set()

    def __getitem__(self, name: str) -> FieldInfo:
        info = self._fields[name]
        self.seen.add(name)
        return info

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


class _SeenStages(tuple[str, ...]):
    """A record type's stages that remember which ones were asked about."""

    seen: set[str]

    def __new__(cls, stages: Iterable[str]) -> _SeenStages:
        obj = super().__new__(cls, stages)
        obj.seen = set()
        return obj

    def __contains__(self, stage: object) -> bool:
        found = super().__contains__(stage)
        if found and isinstance(stage, str):
            self.seen.add(stage)
        return found


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def merge_fields(config: Any, fields: Iterable[str]) -> set[str]:
    """The record fields that texts in `config` use as merge fields (`{{ first_name }}`)."""
    known = set(fields)
    out: set[str] = set()
    for text in _texts(config):
        if "{" in text:
            try:
                out |= template_fields(text) & known
            except TemplateProblem:
                continue
    return out


@dataclass
class Entry:
    """One exported sequence and what it depends on."""

    sequence: Sequence
    data: dict[str, Any]
    targets: list[Sequence] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)
    stages: set[str] = field(default_factory=set)
    owner_team: Team | None = None


class Exporter:
    """Describes an organization's sequences in the document's terms. Build with `load`."""

    def __init__(self, session: AsyncSession, registry: Registry, org: Organization):
        self.session = session
        self.registry = registry
        self.org = org
        self.types: dict[int, tuple[RecordType, RecordTypeInfo]] = {}
        self.by_ref: dict[str, Sequence] = {}
        self.infos: dict[str, SequenceInfo] = {}

    @classmethod
    async def load(cls, session: AsyncSession, registry: Registry, org: Organization) -> Exporter:
        exporter = cls(session, registry, org)
        exporter.types = await record_types.load_infos(session, org.id)
        for seq, type_name in await store.infos(session, org.id):
            gid = authoring.sequence_gid(seq.id)
            active = seq.status == SequenceStatus.ACTIVE
            info = SequenceInfo(gid, seq.key, seq.name, type_name, active)
            exporter.infos[gid] = exporter.infos[seq.key] = info
            exporter.by_ref[gid] = exporter.by_ref[seq.key] = seq
        return exporter

    async def steps(self, seq: Sequence) -> list[Step]:
        """The version an export shows: the running one of an active sequence, else the
        newest (what the designer shows)."""
        version = None
        if seq.status == SequenceStatus.ACTIVE and seq.current_version_id is not None:
            version = await self.session.get(SequenceVersion, seq.current_version_id)
        if version is None:
            version = (await store.latest_versions(self.session, [seq.id]))[seq.id]
        rows = (await store.steps_of(self.session, [version.id]))[version.id]
        return store.to_steps(rows)

    async def entry(self, seq: Sequence, tag_paths: Seq[str] | None = None) -> Entry:
        type_row, info = self.types[seq.record_type_id]
        steps = await self.steps(seq)
        fields = _SeenFields(info.fields)
        stages = _SeenStages(info.stages)
        checker = Checker(
            registry=self.registry,
            record_type=replace(info, fields=fields, stages=stages),
            call_outcomes=tuple(self.org.call_outcomes),
            max_steps=self.org.max_steps,
            lookup_sequence=self.infos.get,
        )
        graph = SequenceGraph(
            [replace(s, config=dict(s.config)) for s in steps], self.registry.shape
        )
        gid = authoring.sequence_gid(seq.id)
        found = Entry(seq, {})
        for s in graph.steps.values():  # stored versions are trees (checked on save)
            self.registry.check_step(s.type, s.config, checker.context(graph, s.key, gid))
        found.fields = set(fields.seen) | merge_fields([s.config for s in steps], info.fields)
        if seq.assign_field and seq.assign_field in info.fields:
            found.fields.add(seq.assign_field)
        found.stages = set(stages.seen)

        out_steps = []
        for s in steps:
            config = copy.deepcopy(s.config)
            prop = SEQUENCE_REFERENCES.get(s.type)
            ref = config.get(prop) if prop else None
            if prop and isinstance(ref, str) and ref.strip() in self.by_ref:
                target = self.by_ref[ref.strip()]
                config[prop] = target.key
                if target.id != seq.id and target not in found.targets:
                    found.targets.append(target)
            out_steps.append(
                {
                    "key": s.key,
                    "type": s.type,
                    "name": s.name,
                    "description": s.description,
                    "config": config,
                    "parent": s.parent,
                    "branch": s.branch,
                }
            )
        if tag_paths is None:
            tree = await tag_store.tree(self.session, self.org.id)
            tags = (await tag_store.tags_by_sequence(self.session, [seq.id])).get(seq.id, [])
            tag_paths = [tree.path(t.id) for t in tags]
        if seq.owner_team_id is not None:
            found.owner_team = await self.session.get(Team, seq.owner_team_id)
        condition = seq.member_condition or {}
        found.data = {
            "key": seq.key,
            "name": seq.name,
            "description": seq.description,
            "recordType": type_row.name,
            "status": seq.status,
            "isPersonal": seq.is_personal,
            "ownerTeam": found.owner_team.name if found.owner_team else None,
            "assignment": {
                "assignTo": seq.assign_to,
                "fieldName": seq.assign_field,
                "teamRoles": list(condition.get("team_roles", [])),
                "userRoles": list(condition.get("user_roles", [])),
            },
            "options": {
                "exitOnReply": seq.exit_on_reply,
                "skipNonWorkingTime": seq.skip_non_working_time,
                "skipOptedOutEmail": seq.skip_opted_out_email,
                "sendWindow": window_json(seq.send_window),
                "exitCriteria": seq.exit_criteria,
            },
            "enrollmentRules": await self.enrollment_rules(seq),
            "tags": sorted(tag_paths, key=str.casefold),
            "stepTypes": self.step_types(s.type for s in steps),
            "steps": out_steps,
        }
        return found

    async def enrollment_rules(self, seq: Sequence) -> list[dict[str, Any]]:
        """The sequence's enrollment rules as a document holds them: owners by email and
        teams by name, as the other environment knows them."""
        out = []
        for rule in rules_of(seq.enrollment_rules):
            data = rule.stored()
            f = data["filter"]
            user = await self.session.get(User, f["ownerUserId"]) if f["ownerUserId"] else None
            team = await self.session.get(Team, f["ownerTeamId"]) if f["ownerTeamId"] else None
            if (f["ownerUserId"] and user is None) or (f["ownerTeamId"] and team is None):
                # Left out, the rule would enroll more records where it is imported.
                gone = "user" if f["ownerUserId"] and user is None else "team"
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE,
                    f"An enrollment rule of sequence '{seq.name}' names a {gone} that no longer"
                    " exists: change or remove the rule (setEnrollmentRules) before exporting.",
                    ["sequenceIds"],
                )
            data["filter"] = {
                "ownerUser": user.email if user is not None else None,
                "ownerTeam": team.name if team is not None else None,
                "stage": f["stage"],
                "search": f["search"],
                "externalIds": f["externalIds"],
            }
            out.append(data)
        return out

    def step_types(self, keys: Iterable[str]) -> dict[str, dict[str, str | None]]:
        out: dict[str, dict[str, str | None]] = {}
        for key in sorted(set(keys)):
            step_type = self.registry.get(key)
            provider = self.registry.provider(key)
            out[key] = {
                "version": step_type.version if step_type else None,
                "package": provider[0] if provider else None,
            }
        return out


async def export_document(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    sequences: Seq[Sequence],
    include_dependencies: bool = True,
    environment: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The document for `sequences` (of the actor's organization) and, with
    `include_dependencies`, every sequence they advance to, transitively; `progress(done,
    total)` is called as each sequence is read (the total grows as dependencies turn up)."""
    check_transfer_role(actor)
    org = await authoring.organization(session, actor)
    exporter = await Exporter.load(session, registry, org)
    tree = await tag_store.tree(session, org.id)
    entries: dict[int, Entry] = {}
    queue = list(sequences)
    while queue:
        batch = [s for s in dict.fromkeys(queue) if s.id not in entries]
        queue = []
        tags = await tag_store.tags_by_sequence(session, [s.id for s in batch])
        for n, seq in enumerate(batch, 1):
            found = await exporter.entry(seq, [tree.path(t.id) for t in tags.get(seq.id, [])])
            entries[seq.id] = found
            if include_dependencies:
                queue += [t for t in found.targets if t.id not in entries]
            if progress is not None:
                pending = ({t.id for t in batch[n:]} | {t.id for t in queue}) - entries.keys()
                progress(len(entries), len(entries) + len(pending))

    ordered = sorted(entries.values(), key=lambda e: (e.data["name"].casefold(), e.data["key"]))
    used_types: dict[int, tuple[set[str], set[str]]] = {}
    teams: dict[str, Team] = {}
    for e in ordered:
        fields, stages = used_types.setdefault(e.sequence.record_type_id, (set(), set()))
        fields |= e.fields
        stages |= e.stages
        if e.owner_team is not None:
            teams[e.owner_team.name] = e.owner_team
    record_type_list = []
    for type_id, (fields, stages) in used_types.items():
        row, info = exporter.types[type_id]
        record_type_list.append(
            {
                "name": row.name,
                "displayName": row.display_name,
                "fields": [
                    {"name": name, "type": info.fields[name].type.value} for name in sorted(fields)
                ],
                "stages": [s for s in info.stages if s in stages],
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": utcnow().isoformat(timespec="seconds"),
        "source": {
            "environment": environment,
            "organization": org.name,
            "sekvensVersion": sekvens_version(),
        },
        "recordTypes": sorted(record_type_list, key=lambda r: r["name"]),
        "teams": [
            {"name": t.name, "kind": t.kind}
            for t in sorted(teams.values(), key=lambda t: t.name.casefold())
        ],
        "sequences": [e.data for e in ordered],
    }


async def sequences_by_id(
    session: AsyncSession, actor: Actor, ids: Seq[int], field: str = "sequenceIds"
) -> list[Sequence]:
    rows = {
        s.id: s
        for s in await session.scalars(
            select(Sequence).where(
                Sequence.organization_id == actor.organization_id, Sequence.id.in_(set(ids))
            )
        )
    }
    for i, pk in enumerate(ids):
        if pk not in rows:
            raise DomainError.of(ErrorCode.NOT_FOUND, "No such sequence.", [field, str(i)])
    return [rows[pk] for pk in ids]


async def sequences_by_key(
    session: AsyncSession, actor: Actor, keys: Seq[str] | None
) -> list[Sequence]:
    """The organization's sequences with these stable keys (None: all of them)."""
    stmt = select(Sequence).where(Sequence.organization_id == actor.organization_id)
    if keys is not None:
        stmt = stmt.where(Sequence.key.in_(set(keys)))
    rows = {s.key: s for s in await session.scalars(stmt.order_by(Sequence.id))}
    if keys is None:
        return list(rows.values())
    for key in keys:
        if key not in rows:
            raise DomainError.of(
                ErrorCode.NOT_FOUND, f"No sequence with key '{key}'.", ["sequence"]
            )
    return [rows[k] for k in keys]
