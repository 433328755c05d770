"""Import: a sequences document into the actor's organization, all or nothing.

`import_document` checks the document, plans what each sequence becomes (CREATE, UPDATE,
SKIP, COPY), writes it through the authoring rules, and activates what was asked, inside
the caller's transaction. It never commits: the caller commits when `report.applied`, and
rolls back otherwise. A DRY_RUN runs exactly the same writes and is rolled back, so its
report says exactly what an APPLY would do.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.actions import tags as tag_actions
from sekvens.authoring import sequences as authoring
from sekvens.authoring.enrollment_rules import RuleRequest, set_enrollment_rules
from sekvens.domain import sequence_access
from sekvens.domain.assignment import AssignTo
from sekvens.domain.enrollment import EnrollmentRule, RuleFilter, check_rules, stored_rules
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.exit_criteria import ExitCriteria
from sekvens.domain.field_conditions import FieldCondition
from sekvens.domain.life_cycles import SequenceStatus, VersionStatus
from sekvens.domain.records import RecordTypeInfo
from sekvens.domain.roles import Actor
from sekvens.domain.send_windows import SendWindowRequest, send_window
from sekvens.domain.sequence_graph import SequenceGraph, Step, new_key
from sekvens.domain.sequence_rules import check_description, check_name
from sekvens.domain.tags import SEPARATOR, name_key
from sekvens.domain.teams import TeamKind
from sekvens.domain.transfer import ImportAction, ImportConflictPolicy, ImportMode
from sekvens.plugins.registry import Registry
from sekvens.storage import audit, record_types
from sekvens.storage import sequences as store
from sekvens.storage import tags as tag_store
from sekvens.storage.tables import (
    Organization,
    RecordType,
    Sequence,
    SequenceStep,
    SequenceVersion,
    Team,
    User,
)
from sekvens.transfer.document import (
    DEFAULT_MAX_IMPORT_BYTES,
    SEQUENCE_REFERENCES,
    Path,
    TransferProblem,
    dependency_order,
    read_document,
    sequence_references,
)
from sekvens.transfer.export import Exporter, Progress, check_transfer_role, window_json

#: Compared to decide that an UPDATE would change nothing (status and versions aside).
COMPARED = ("name", "description", "assignment", "options", "enrollmentRules", "tags", "steps")


@dataclass
class SequenceResult:
    """What the import does (or would do) with one sequence of the document."""

    index: int
    key: str
    name: str
    action: ImportAction
    unchanged: bool = False
    new_key: str | None = None
    activated: bool = False
    problems: list[TransferProblem] = field(default_factory=list)
    sequence: Sequence | None = None

    def to_dict(self, applied: bool) -> dict[str, Any]:
        return {
            "index": self.index,
            "key": self.key,
            "name": self.name,
            "action": self.action,
            "unchanged": self.unchanged,
            "newKey": self.new_key,
            "activated": self.activated,
            "sequenceId": (
                authoring.sequence_gid(self.sequence.id)
                if applied and self.sequence is not None
                else None
            ),
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class ImportReport:
    mode: ImportMode
    on_conflict: ImportConflictPolicy
    activate: bool
    problems: list[TransferProblem] = field(default_factory=list)
    sequences: list[SequenceResult] = field(default_factory=list)
    created_tags: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not any(r.problems for r in self.sequences)

    def all_problems(self) -> list[tuple[int | None, TransferProblem]]:
        """Every problem with the index of its sequence (None: the document's)."""
        out: list[tuple[int | None, TransferProblem]] = [(None, p) for p in self.problems]
        out += [(r.index, p) for r in self.sequences for p in r.problems]
        return out

    def count(self, action: ImportAction) -> int:
        return sum(1 for r in self.sequences if r.action == action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "onConflict": self.on_conflict,
            "activate": self.activate,
            "applied": self.applied,
            "problems": [p.to_dict() for p in self.problems],
            "sequences": [r.to_dict(self.applied) for r in self.sequences],
            "createdTags": list(self.created_tags),
        }


def _rule(data: dict[str, Any]) -> dict[str, Any]:
    """An enrollment rule of a document with every default filled in, as an export writes it."""
    f = data.get("filter") or {}
    owner = f.get("ownerUser")
    return {
        "key": data["key"],
        "name": data.get("name") or data["key"],
        "filter": {
            "ownerUser": owner.strip().lower() if isinstance(owner, str) else None,
            "ownerTeam": f.get("ownerTeam"),
            "stage": f.get("stage"),
            "search": f.get("search"),
            "externalIds": f.get("externalIds"),
        },
        "fieldConditions": list(data.get("fieldConditions", [])),
        "allowReenrollment": data.get("allowReenrollment", False),
        "reenrollAfterDays": data.get("reenrollAfterDays", 0),
    }


@functools.lru_cache(maxsize=256)  # a document names each step type once per sequence
def _version_key(version: str) -> tuple[int, ...]:
    parts = [int(m.group()) if (m := re.match(r"\d+", p)) else 0 for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def older(installed: str, required: str) -> bool:
    """Whether dotted version `installed` is below `required` (numbers compare as numbers)."""
    return _version_key(installed) < _version_key(required)


_FIELD_PATHS: dict[str, Path] = {
    "name": ("name",),
    "description": ("description",),
    "recordType": ("recordType",),
    "assignTo": ("assignment", "assignTo"),
    "fieldName": ("assignment", "fieldName"),
    "memberCondition": ("assignment",),
    "teamRoles": ("assignment", "teamRoles"),
    "userRoles": ("assignment", "userRoles"),
    "teamId": ("ownerTeam",),
    "steps": ("steps",),
}


async def import_document(
    session: AsyncSession,
    registry: Registry,
    actor: Actor,
    raw: Any,
    *,
    mode: ImportMode = ImportMode.DRY_RUN,
    on_conflict: ImportConflictPolicy = ImportConflictPolicy.UPDATE,
    activate: bool = False,
    max_bytes: int = DEFAULT_MAX_IMPORT_BYTES,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `raw` (bytes, JSON text, or a parsed document) as `actor`; `progress(done,
    total)` is called as each sequence is written (or skipped).

    Raises `DomainError` only for refusals that have nothing to do with the document
    (FORBIDDEN, FEATURE_DISABLED); everything else is in the report.
    """
    check_transfer_role(actor)
    org = await authoring.organization(session, actor)
    report = ImportReport(mode, on_conflict, activate)
    document, problems = read_document(raw, max_bytes)
    if document is None:
        report.problems = problems
        return report
    run = _Import(session, registry, actor, org, document, report, progress)
    await run.plan()
    if report.ok:
        await run.write()
    if report.ok and activate:
        await run.activate()
    report.applied = mode == ImportMode.APPLY and report.ok
    return report


class _Import:
    def __init__(
        self,
        session: AsyncSession,
        registry: Registry,
        actor: Actor,
        org: Organization,
        document: dict[str, Any],
        report: ImportReport,
        progress: Progress | None = None,
    ):
        self.session = session
        self.progress = progress
        self.registry = registry
        self.actor = actor
        self.org = org
        self.document = document
        self.incoming: list[dict[str, Any]] = document["sequences"]
        self.report = report
        self.types: dict[str, tuple[RecordType, RecordTypeInfo]] = {}
        self.teams: dict[str, Team] = {}
        #: The users enrollment rules name, by email.
        self.users: dict[str, User] = {}
        #: Each sequence's enrollment rules as they are here, by the sequence's key.
        self.rules: dict[str, list[EnrollmentRule]] = {}
        self.existing: dict[str, Sequence] = {}
        self.key_map: dict[str, str] = {}
        self.normalized: list[dict[str, Any]] = []
        #: The checked step tree of each sequence, by index (planning checks it once).
        self.graphs: dict[int, SequenceGraph] = {}
        #: Audit entries not written yet (`_write_audit` writes them in one statement).
        self.audit_rows: list[dict[str, Any]] = []

    def problem(
        self,
        code: ErrorCode,
        message: str,
        path: Path,
        sequence: int | None = None,
        step_key: str | None = None,
    ) -> None:
        """Report a problem of sequence `sequence`, or of the document (None); the keys of
        the sequence and step that `path` points into are named either way."""
        key = None
        at = sequence
        if at is None and len(path) > 1 and path[0] == "sequences" and path[1].isdigit():
            at = int(path[1])
        if at is not None:
            key = self.incoming[at]["key"]
            if step_key is None and len(path) > 3 and path[2] == "steps" and path[3].isdigit():
                step_key = self.incoming[at]["steps"][int(path[3])]["key"]
        found = TransferProblem(code, message, path, key, step_key)
        if sequence is None:
            self.report.problems.append(found)
        else:
            self.report.sequences[sequence].problems.append(found)

    # --- Plan: read-only checks against this environment ---------------------------------

    async def plan(self) -> None:
        session, org = self.session, self.org
        self.types = {
            row.name: (row, info)
            for row, info in (await record_types.load_infos(session, org.id)).values()
        }
        self.teams = {
            t.name: t
            for t in await session.scalars(select(Team).where(Team.organization_id == org.id))
        }
        self.existing = {
            s.key: s
            for s in await session.scalars(
                select(Sequence).where(Sequence.organization_id == org.id)
            )
        }
        emails = {
            email.strip().lower()
            for seq in self.incoming
            for rule in seq.get("enrollmentRules", [])
            if isinstance(email := (rule.get("filter") or {}).get("ownerUser"), str)
        }
        if emails:
            self.users = {
                u.email: u
                for u in await session.scalars(
                    select(User).where(User.organization_id == org.id, User.email.in_(emails))
                )
            }
        self._check_step_types()
        self._check_record_types()
        self._check_teams()
        self._plan_sequences()
        self._check_references()
        await self._check_sequences()

    def _check_step_types(self) -> None:
        uses: dict[str, list[tuple[int, int]]] = {}
        for i, seq in enumerate(self.incoming):
            for j, step in enumerate(seq["steps"]):
                uses.setdefault(step["type"], []).append((i, j))
        packages = {
            key: entry.get("package")
            for seq in self.incoming
            for key, entry in seq.get("stepTypes", {}).items()
        }
        for type_key, where in uses.items():
            if self.registry.get(type_key) is None:
                i, j = where[0]
                package = packages.get(type_key)
                hint = f"install {package}" if package else "install the plugin that provides it"
                self.problem(
                    ErrorCode.UNKNOWN_STEP_TYPE,
                    f"Step type '{type_key}' is not installed here ({len(where)} step(s) use it):"
                    f" {hint}, or enable it (SEKVENS_DISABLED_STEP_TYPES).",
                    ("sequences", str(i), "steps", str(j), "type"),
                )
        reported: set[tuple[str, str]] = set()
        for i, seq in enumerate(self.incoming):
            for type_key, entry in seq.get("stepTypes", {}).items():
                step_type, required = self.registry.get(type_key), entry.get("version")
                if step_type is None or not required or (type_key, required) in reported:
                    continue
                if older(step_type.version, required):
                    reported.add((type_key, required))
                    package = entry.get("package") or "its plugin"
                    self.problem(
                        ErrorCode.PLUGIN_TOO_OLD,
                        f"Step type '{type_key}' is version {step_type.version} here; the document"
                        f" needs {required} or newer: upgrade {package}.",
                        ("sequences", str(i), "stepTypes", type_key, "version"),
                    )

    def _check_record_types(self) -> None:
        missing: set[str] = set()
        for k, rt in enumerate(self.document.get("recordTypes", [])):
            name = rt["name"]
            if name not in self.types:
                missing.add(name)
                self.problem(
                    ErrorCode.UNKNOWN_RECORD_TYPE,
                    f"Record type '{name}' does not exist here; an administrator must create it"
                    " (createRecordType) first.",
                    ("recordTypes", str(k), "name"),
                )
                continue
            info = self.types[name][1]
            for m, f in enumerate(rt.get("fields", [])):
                here = info.fields.get(f["name"])
                at = ("recordTypes", str(k), "fields", str(m))
                if here is None:
                    self.problem(
                        ErrorCode.UNKNOWN_FIELD,
                        f"Record type '{name}' has no field '{f['name']}' here; an administrator"
                        f" must add it ({f['type']}) first.",
                        (*at, "name"),
                    )
                elif here.type.value != f["type"]:
                    self.problem(
                        ErrorCode.WRONG_FIELD_TYPE,
                        f"Field '{name}.{f['name']}' is {here.type.value} here, not {f['type']}.",
                        (*at, "type"),
                    )
            for m, stage in enumerate(rt.get("stages", [])):
                if stage not in info.stages:
                    self.problem(
                        ErrorCode.UNKNOWN_STAGE,
                        f"Record type '{name}' has no stage '{stage}' here.",
                        ("recordTypes", str(k), "stages", str(m)),
                    )
        for i, seq in enumerate(self.incoming):
            name = seq["recordType"]
            if name not in self.types and name not in missing:
                missing.add(name)
                self.problem(
                    ErrorCode.UNKNOWN_RECORD_TYPE,
                    f"Record type '{name}' does not exist here; an administrator must create it"
                    " first.",
                    ("sequences", str(i), "recordType"),
                )

    def _check_teams(self) -> None:
        reported: set[str] = set()

        def check(name: str, kind: str | None, path: Path) -> None:
            team = self.teams.get(name)
            if name in reported:
                return
            if team is None:
                reported.add(name)
                self.problem(
                    ErrorCode.UNKNOWN_TEAM,
                    f"There is no team '{name}' here; teams are never created by an import:"
                    " create it (createTeam) first.",
                    path,
                )
            elif kind is not None and team.kind != kind:
                reported.add(name)
                self.problem(
                    ErrorCode.WRONG_TEAM_KIND,
                    f"Team '{name}' is an {team.kind} team here, not {kind}.",
                    path,
                )

        for k, team in enumerate(self.document.get("teams", [])):
            check(team["name"], team.get("kind"), ("teams", str(k), "name"))
        for i, seq in enumerate(self.incoming):
            owner = seq.get("ownerTeam")
            if owner is not None:
                check(owner, TeamKind.OWNER, ("sequences", str(i), "ownerTeam"))

    def _check_references(self) -> None:
        keys = {seq["key"] for seq in self.incoming}
        for i, seq in enumerate(self.incoming):
            for j, ref in sequence_references(seq):
                if ref not in keys and ref not in self.existing:
                    step = seq["steps"][j]
                    self.problem(
                        ErrorCode.ADVANCE_TARGET_NOT_FOUND,
                        f"Step '{step.get('name') or step['key']}' advances to sequence '{ref}',"
                        " which is neither in the document nor here: export it along"
                        " (include dependencies) or import it first.",
                        (
                            "sequences",
                            str(i),
                            "steps",
                            str(j),
                            "config",
                            SEQUENCE_REFERENCES[step["type"]],
                        ),
                        i,
                        step["key"],
                    )

    def _plan_sequences(self) -> None:
        policy = self.report.on_conflict
        for i, seq in enumerate(self.incoming):
            existing = self.existing.get(seq["key"])
            action = ImportAction.CREATE if existing is None else ImportAction(policy)
            result = SequenceResult(i, seq["key"], seq["name"], action, sequence=existing)
            if action == ImportAction.COPY:
                result.new_key = self.key_map[seq["key"]] = new_key()
            self.report.sequences.append(result)

    def normalize(self, seq: dict[str, Any]) -> dict[str, Any]:
        """The sequence with every default filled in and references remapped."""
        assignment = {"assignTo": AssignTo.RECORD_OWNER, **seq.get("assignment", {})}
        options = {
            "exitOnReply": False,
            "skipNonWorkingTime": self.org.skip_non_working_time,
            "skipOptedOutEmail": False,
            "sendWindow": None,
            "exitCriteria": None,
            **seq.get("options", {}),
        }
        steps = []
        for step in seq["steps"]:
            step_type = self.registry.get(step["type"])
            name = (step.get("name") or "").strip() or (step_type.display_name if step_type else "")
            # A shallow copy is enough to remap a reference; nothing changes a config after.
            config = dict(step.get("config") or {})
            prop = SEQUENCE_REFERENCES.get(step["type"])
            ref = config.get(prop) if prop else None
            if isinstance(ref, str):
                config[prop] = self.key_map.get(ref.strip(), ref.strip())
            steps.append(
                {
                    "key": step["key"],
                    "type": step["type"],
                    "name": name,
                    "description": step.get("description", ""),
                    "config": config,
                    "parent": step.get("parent"),
                    "branch": step.get("branch"),
                }
            )
        return {
            "key": seq["key"],
            "name": seq["name"],
            "description": seq.get("description", ""),
            "recordType": seq["recordType"],
            "status": seq.get("status", SequenceStatus.INACTIVE),
            "isPersonal": seq.get("isPersonal", False),
            "ownerTeam": seq.get("ownerTeam"),
            "assignment": {
                "assignTo": assignment["assignTo"],
                "fieldName": assignment.get("fieldName"),
                "teamRoles": sorted(
                    {r.strip() for r in assignment.get("teamRoles", []) if r.strip()}
                ),
                "userRoles": sorted(set(assignment.get("userRoles", []))),
            },
            "options": options,
            "enrollmentRules": [_rule(r) for r in seq.get("enrollmentRules", [])],
            "tags": sorted(seq.get("tags", []), key=str.casefold),
            "steps": steps,
        }

    def _check_send_window(self, i: int, options: dict[str, Any]) -> None:
        """The sequence's own send window checked as `setSequenceOptions` checks it, and
        written as the sequence stores it (weekdays sorted)."""
        window = options["sendWindow"]
        if window is None:
            return
        checked, problems = send_window(
            [int(d) for d in window["weekdays"]],  # the schema allows 1.0 for 1
            window["start"],
            window["end"],
            ("sequences", str(i), "options", "sendWindow"),
        )
        for p in problems:
            self.problem(p.code, p.message, p.field, i)
        if checked is not None:
            options["sendWindow"] = checked.to_json()

    def _check_exit_criteria(self, i: int, norm: dict[str, Any]) -> None:
        """The exit criteria checked against the record type here as `setSequenceOptions`
        checks them, and written as the sequence stores them."""
        options = norm["options"]
        criteria = ExitCriteria.of(options["exitCriteria"])
        type_row = self.types.get(norm["recordType"])
        if type_row is not None:
            for p in criteria.check(type_row[1]):
                self.problem(p.code, p.message, ("sequences", str(i), "options", *p.field), i)
        options["exitCriteria"] = criteria.stored()

    def _check_enrollment_rules(self, i: int, norm: dict[str, Any]) -> None:
        """The enrollment rules with their owners and teams found here by email and name,
        checked against the record type as `setEnrollmentRules` checks them."""
        rules: list[EnrollmentRule] = []
        for n, data in enumerate(norm["enrollmentRules"]):
            at = ("sequences", str(i), "enrollmentRules", str(n), "filter")
            f = data["filter"]
            user = self.users.get(f["ownerUser"]) if f["ownerUser"] is not None else None
            if f["ownerUser"] is not None and user is None:
                self.problem(
                    ErrorCode.UNKNOWN_USER,
                    f"There is no user '{f['ownerUser']}' here; users are never created by an"
                    " import.",
                    (*at, "ownerUser"),
                    i,
                )
            team = self.teams.get(f["ownerTeam"]) if f["ownerTeam"] is not None else None
            if f["ownerTeam"] is not None and team is None:
                self.problem(
                    ErrorCode.UNKNOWN_TEAM,
                    f"There is no team '{f['ownerTeam']}' here; teams are never created by an"
                    " import: create it (createTeam) first.",
                    (*at, "ownerTeam"),
                    i,
                )
            conditions = tuple(FieldCondition.from_json(c) for c in data["fieldConditions"])
            data["fieldConditions"] = [c.to_json() for c in conditions]
            ids = f["externalIds"]
            rules.append(
                EnrollmentRule(
                    data["key"],
                    data["name"],
                    RuleFilter(
                        user.id if user is not None else None,
                        team.id if team is not None else None,
                        f["stage"],
                        f["search"],
                        tuple(ids) if ids is not None else None,
                    ),
                    conditions,
                    data["allowReenrollment"],
                    data["reenrollAfterDays"],
                )
            )
        type_row = self.types.get(norm["recordType"])
        if type_row is not None:
            for p in check_rules(rules, type_row[1]):
                path = ("sequences", str(i), "enrollmentRules", *p.field[1:])
                self.problem(p.code, p.message, path, i)
        self.rules[norm["key"]] = rules

    async def _check_sequences(self) -> None:
        exporter: Exporter | None = None
        # The registry does not change during an import: each step type's shape is made once.
        shape = functools.cache(self.registry.shape)
        for i, seq in enumerate(self.incoming):
            result = self.report.sequences[i]
            norm = self.normalize(seq)
            self.normalized.append(norm)
            self._check_send_window(i, norm["options"])
            self._check_exit_criteria(i, norm)
            self._check_enrollment_rules(i, norm)
            if seq.get("isPersonal") and seq.get("ownerTeam") is not None:
                self.problem(
                    ErrorCode.INVALID_VALUE,
                    "A personal sequence is owned by a user, not a team.",
                    ("sequences", str(i), "ownerTeam"),
                    i,
                )
            if all(self.registry.get(s["type"]) for s in norm["steps"]):
                graph = SequenceGraph(self.steps_of(norm), shape)
                try:
                    graph.check()
                except DomainError as e:
                    result.problems += self.mapped(i, e)
                else:
                    self.graphs[i] = graph
            existing = self.existing.get(seq["key"])
            if result.action != ImportAction.UPDATE or existing is None:
                continue
            type_row = self.types.get(norm["recordType"])
            if type_row is not None and type_row[0].id != existing.record_type_id:
                self.problem(
                    ErrorCode.WRONG_RECORD_TYPE,
                    f"Sequence '{existing.name}' (key {existing.key}) is for another record type"
                    " here, and a sequence's record type can't change: import with COPY, or"
                    " give the sequence another key.",
                    ("sequences", str(i), "recordType"),
                    i,
                )
                continue
            if exporter is None:
                exporter = await Exporter.load(self.session, self.registry, self.org)
            current = (await exporter.entry(existing)).data
            compared = [c for c in COMPARED if c != "tags"]
            unchanged = (
                all(current[c] == norm[c] for c in compared)
                and sorted(current["tags"], key=str.casefold) == norm["tags"]
            )
            if norm["ownerTeam"] is not None:
                unchanged = unchanged and current["ownerTeam"] == norm["ownerTeam"]
            if unchanged:
                result.action, result.unchanged = ImportAction.SKIP, True
            elif existing.status == SequenceStatus.ACTIVE:
                for part in ("assignment", "options"):
                    if current[part] != norm[part]:
                        self.problem(
                            ErrorCode.SEQUENCE_ACTIVE,
                            f"Sequence '{existing.name}' is active here and its {part} differs;"
                            f" it can change only while the sequence is inactive: deactivate it"
                            " here first, or import with COPY.",
                            ("sequences", str(i), part),
                            i,
                        )

    def steps_of(self, norm: dict[str, Any]) -> list[Step]:
        """The normalized sequence's steps (sharing their configs with it)."""
        return [
            Step(
                s["key"],
                s["type"],
                s["name"],
                s["description"],
                s["config"],
                s["parent"],
                s["branch"],
            )
            for s in norm["steps"]
        ]

    def mapped(self, i: int, error: DomainError) -> list[TransferProblem]:
        """A refusal of the authoring rules, as problems at paths into the document."""
        key = self.incoming[i]["key"]
        steps = {s["key"]: j for j, s in enumerate(self.incoming[i]["steps"])}
        return [self._at(i, key, steps, p) for p in error.problems]

    @staticmethod
    def _at(i: int, key: str, steps: dict[str, int], p: Problem) -> TransferProblem:
        path: Path = ("sequences", str(i))
        if p.step_key in steps:
            path += ("steps", str(steps[p.step_key]))
            if p.field and p.field[0] != "steps":
                path += ("config", *p.field)
        elif p.field:
            head, *rest = p.field
            if head in _FIELD_PATHS:
                path += (*_FIELD_PATHS[head], *rest)
        return TransferProblem(p.code, p.message, path, key, p.step_key)

    # --- Write ---------------------------------------------------------------------------

    async def write(self) -> None:
        tag_ids = await self._ensure_tags()
        if not self.report.ok:
            return
        created = await self._create_all()
        for i, norm in enumerate(self.normalized):
            if self.progress is not None and i:
                self.progress(i, len(self.normalized))
            result = self.report.sequences[i]
            if result.action == ImportAction.SKIP:
                continue
            try:
                if result.action == ImportAction.UPDATE:
                    if result.sequence is None:  # planning pairs UPDATE with the sequence
                        raise ValueError(f"Sequence {i} is to be updated but none was found.")
                    await self._write_audit()
                    row = await self._update(result.sequence, norm)
                else:
                    made = created[i]
                    if isinstance(made, DomainError):
                        raise made
                    row = made
                    # Where `authoring.create` writes it: before the sequence's other entries.
                    self._audit(
                        row, "sequence.created", {"name": row.name, "personal": row.is_personal}, 1
                    )
                result.sequence = row
                await self._properties(row, norm, tag_ids, new=i in created)
                self._audit(
                    row,
                    "sequence.imported",
                    {
                        "action": result.action,
                        "key": norm["key"],
                        "source": self.document.get("source"),
                        "exportedAt": self.document.get("exportedAt"),
                    },
                )
            except DomainError as e:
                result.problems += self.mapped(i, e)
        await self._write_audit()
        if self.progress is not None:
            self.progress(len(self.normalized), len(self.normalized))

    def _audit(
        self, row: Sequence, action: str, detail: dict[str, Any], version: int | None = None
    ) -> None:
        """An audit entry of sequence `row`, written by the next `_write_audit`."""
        self.audit_rows.append(
            audit.entry(
                self.session,
                self.org.id,
                self.actor.user_id,
                action,
                "sequence",
                row.id,
                detail,
                version,
            )
        )

    async def _write_audit(self) -> None:
        """Write the pending audit entries in one statement: before anything that records
        entries itself (authoring), so the log keeps the order the entries were made in."""
        rows, self.audit_rows = self.audit_rows, []
        await audit.record_rows(self.session, rows)

    async def _create_all(self) -> dict[int, Sequence | DomainError]:
        """The sequences the import creates (CREATE, COPY) by index, each with its first
        version and steps, written with batched INSERTs (sequences, versions, steps: three
        statements, whatever their number). Each is checked as `authoring.create` checks
        it (its step tree was checked by planning); a refused one is its `DomainError`, and
        nothing is written for it. The record types are the ones planning loaded; the audit
        entries are `write`'s."""
        session, actor, org = self.session, self.actor, self.org
        out: dict[int, Sequence | DomainError] = {}
        rows: list[dict[str, Any]] = []
        graphs: list[tuple[int, list[Step]]] = []
        for i, norm in enumerate(self.normalized):
            result = self.report.sequences[i]
            if result.action not in (ImportAction.CREATE, ImportAction.COPY):
                continue
            name = norm["name"] if result.new_key is None else f"{norm['name']} (copy)"[:160]
            description = norm["description"]
            try:
                sequence_access.check_create(actor.roles, norm["isPersonal"])
                problems = check_name(name) + check_description(description)
                type_row = self.types.get(norm["recordType"])
                if type_row is None:  # planning reported it: `write` does not run then
                    problems.append(
                        Problem(
                            ErrorCode.UNKNOWN_RECORD_TYPE,
                            f"No record type '{norm['recordType']}'.",
                            ("recordType",),
                        )
                    )
                if problems or type_row is None:
                    raise DomainError(problems)
            except DomainError as e:
                out[i] = e
                continue
            rows.append(
                {
                    "organization_id": org.id,
                    "key": result.new_key or norm["key"],
                    "name": name.strip(),
                    "description": description,
                    "search_text": store.search_text(name.strip(), description),
                    "record_type_id": type_row[0].id,
                    "is_personal": norm["isPersonal"],
                    "owner_user_id": actor.user_id,
                    "skip_non_working_time": org.skip_non_working_time,
                    "created_by_id": actor.user_id,
                }
            )
            graphs.append((i, self.graphs[i].to_list()))
        if not rows:
            return out
        # Plain executemany INSERTs, then the new rows read back by key: RETURNING in
        # parameter order would send one INSERT per row on SQLite.
        bulk = {"render_nulls": True}
        await session.execute(insert(Sequence).execution_options(**bulk), rows)
        by_key = {
            seq.key: seq
            for seq in await session.scalars(
                select(Sequence).where(
                    Sequence.organization_id == org.id,
                    Sequence.key.in_([row["key"] for row in rows]),
                )
            )
        }
        sequences = [by_key[row["key"]] for row in rows]
        await session.execute(
            insert(SequenceVersion).execution_options(**bulk),
            [
                {
                    "sequence_id": seq.id,
                    "number": 1,
                    "status": VersionStatus.DRAFT,
                    "name": seq.name,
                    "description": seq.description,
                    "created_by_id": actor.user_id,
                }
                for seq in sequences
            ],
        )
        first_versions: dict[int, int] = {
            sequence_id: version_id
            for sequence_id, version_id in await session.execute(
                select(SequenceVersion.sequence_id, SequenceVersion.id).where(
                    SequenceVersion.sequence_id.in_([seq.id for seq in sequences])
                )
            )
        }
        version_ids = [first_versions[seq.id] for seq in sequences]
        step_rows = [
            row
            for version_id, (_, steps) in zip(version_ids, graphs, strict=True)
            for row in store.step_rows(version_id, steps)
        ]
        if step_rows:
            # A Core INSERT of the table: one statement for every row (NULLs included), and
            # no ORM bookkeeping per row (there are 20 steps to a sequence).
            await session.execute(insert(cast(Table, SequenceStep.__table__)), step_rows)
        for seq, (i, _) in zip(sequences, graphs, strict=True):
            out[i] = seq
        return out

    async def _update(self, seq: Sequence, norm: dict[str, Any]) -> Sequence:
        session, registry, actor = self.session, self.registry, self.actor
        if seq.status == SequenceStatus.ACTIVE:
            latest = (await store.latest_versions(session, [seq.id]))[seq.id]
            if latest.status != VersionStatus.DRAFT:
                await authoring.create_revision(session, registry, actor, seq.id)
        steps = copy.deepcopy(self.steps_of(norm))  # authoring owns the configs it is given
        await authoring.set_steps(session, registry, actor, seq.id, steps)
        if (seq.name, seq.description) != (norm["name"], norm["description"]):
            await authoring.update(session, actor, seq.id, norm["name"], norm["description"])
        return seq

    async def _properties(
        self, row: Sequence, norm: dict[str, Any], tag_ids: dict[str, int], new: bool
    ) -> None:
        session, actor = self.session, self.actor
        a, o = norm["assignment"], norm["options"]
        condition = row.member_condition or {}
        now = (
            row.assign_to,
            row.assign_field,
            condition.get("team_roles", []),
            condition.get("user_roles", []),
        )
        if (
            now != (a["assignTo"], a["fieldName"], a["teamRoles"], a["userRoles"])
            and row.status != SequenceStatus.ACTIVE
        ):
            await self._write_audit()
            await authoring.set_assignment(
                session,
                actor,
                row.id,
                a["assignTo"],
                a["fieldName"],
                a["teamRoles"],
                a["userRoles"],
            )
        window = o["sendWindow"]
        if (
            row.exit_on_reply,
            row.skip_non_working_time,
            row.skip_opted_out_email,
            window_json(row.send_window),
            row.exit_criteria,
        ) != (
            o["exitOnReply"],
            o["skipNonWorkingTime"],
            o["skipOptedOutEmail"],
            window,
            o["exitCriteria"],
        ) and row.status != SequenceStatus.ACTIVE:
            await self._write_audit()
            await authoring.set_options(
                session,
                actor,
                row.id,
                o["exitOnReply"],
                o["skipNonWorkingTime"],
                o["skipOptedOutEmail"],
                SendWindowRequest(tuple(window["weekdays"]), window["start"], window["end"])
                if window is not None
                else SendWindowRequest(),
                ExitCriteria.of(o["exitCriteria"]),
            )
        rules = self.rules.get(norm["key"], [])
        if stored_rules(rules) != row.enrollment_rules:
            await self._write_audit()
            await set_enrollment_rules(session, actor, row.id, [RuleRequest(r) for r in rules])
        team = self.teams.get(norm["ownerTeam"]) if norm["ownerTeam"] else None
        if team is not None and row.owner_team_id != team.id:
            await self._write_audit()
            await authoring.assign_owner(session, actor, row.id, None, team.id)
        wanted = [tag_ids[p] for p in norm["tags"] if p in tag_ids]
        if wanted or not new:  # a new sequence has no tags to remove
            await self._write_audit()
            await tag_actions.write_sequence_tags(session, actor, row.id, wanted)

    async def _ensure_tags(self) -> dict[str, int]:
        """Tag ids by path for the sequences written, creating the tags that are missing."""
        tree = await tag_store.tree(self.session, self.org.id)
        by_place = {(n.parent_id, name_key(n.name)): n.id for n in tree.nodes.values()}
        out: dict[str, int] = {}
        for i, result in enumerate(self.report.sequences):
            if result.action == ImportAction.SKIP:
                continue
            for j, path in enumerate(self.incoming[i].get("tags", [])):
                if path in out:
                    continue
                parent: int | None = None
                walked: list[str] = []
                try:
                    for segment in path.split(SEPARATOR):
                        walked.append(segment.strip())
                        found = by_place.get((parent, name_key(segment)))
                        if found is None:
                            tag, _ = await tag_actions.create_tag(
                                self.session, self.actor, segment, parent, via="import"
                            )
                            found = by_place[(parent, name_key(segment))] = tag.id
                            self.report.created_tags.append(SEPARATOR.join(walked))
                        parent = found
                except DomainError as e:
                    for p in e.problems:
                        self.problem(
                            p.code,
                            f"Tag '{path}' can't be created: {p.message}",
                            ("sequences", str(i), "tags", str(j)),
                            i,
                        )
                    continue
                if parent is None:  # str.split gives at least one segment
                    raise ValueError(f"Tag path '{path}' has no segment.")
                out[path] = parent
        return out

    # --- Activate ------------------------------------------------------------------------

    async def activate(self) -> None:
        source = self.document.get("source") or {}
        where = " ".join(
            str(v) for v in (source.get("organization"), source.get("environment")) if v
        )
        change = f"Imported from {where}." if where else "Imported."
        for i in dependency_order(self.document):
            result, norm = self.report.sequences[i], self.normalized[i]
            row = result.sequence
            skipped = result.action == ImportAction.SKIP and not result.unchanged
            if row is None or result.problems or skipped:
                continue
            if row.status == SequenceStatus.ACTIVE:
                # Never activate a draft the import did not write.
                if result.action != ImportAction.UPDATE:
                    continue
                latest = (await store.latest_versions(self.session, [row.id]))[row.id]
                if latest.status != VersionStatus.DRAFT:
                    continue
                description: str | None = change
            elif norm["status"] == SequenceStatus.ACTIVE:
                description = None
            else:
                continue
            try:
                await authoring.activate(
                    self.session, self.registry, self.actor, row.id, description
                )
                result.activated = True
            except DomainError as e:
                result.problems += self.mapped(i, e)
