"""Connect-by-filter jobs explored: random interleavings of records created and changed
(stage, owner, name, active), jobs started (`asJob`) over random filters by an administrator
or a salesperson, one chunk of 2 records run at a time (alone, or in a worker round that runs
the connections' steps too), chunks interrupted before their commit (as by a worker killed
mid-chunk), cancels, connections ended by hand, a sequence deactivated and activated, and the
salesperson deactivated or given a manager's role and back, through GraphQL.

A model of this test's own predicts which job each chunk runs (the open job whose last chunk
is oldest), which records it meets (the next 2 matching its filter after its cursor, in id
order) and what it does with each (FORBIDDEN for another's record while its creator is a
salesperson, RECORD_INACTIVE, NO_ASSIGNEE when the owner is deactivated, ALREADY_CONNECTED,
else connected; the job FAILED when its creator is deactivated, or its sequence when it
meets records), and each job's `status`, `done`, `skipped`, `total`, `cancelRequested` and
`error`, and the running connections, must equal it after every step. Besides, checked
against the connections each chunk made rather than against the model:

1. A job's progress never goes backwards: `done`, `skippedCount` and `errorCount` never
   fall, its status only moves QUEUED -> RUNNING -> an end (QUEUED -> an end when its first
   chunk is its last, or it is canceled before it), and an ended job never changes.
2. `done + skippedCount + errorCount` never exceeds the records that matched the job's
   filter at some moment of its life.
3. A chunk connects only records of its job's filter, each at most once per job, and `done`
   counts them; a chunk that did not commit leaves no connection.
4. A CANCELED job connected exactly the records of the chunks run before its cancel.
5. A SUCCEEDED job met every record that matched its filter all its life (connected or
   skipped), connected every one of them it could connect all its life, and its `total` is
   `done + skippedCount + errorCount`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from sekvens.domain.global_ids import from_global_id
from sekvens.engine import jobs as job_ops
from sekvens.storage.db import Database
from tests.api.sequences_helpers import simple_active
from tests.api.test_life_cycle_states import World
from tests.conftest import Api, new_org

SCALE = int(os.environ.get("SEKVENS_FUZZ_SCALE", "1"))
CHUNK = 2
RECORDS, SEQUENCES = 10, 2
STAGES = ("Qualify", "Develop", "Close")
OPEN = ("QUEUED", "RUNNING")
JOB = "id status total done skipped { code count } skippedCount errorCount error cancelRequested"
JOBS = f"{{ jobs(first: 100) {{ nodes {{ {JOB} }} }} }}"
CONNECTIONS = (
    "query($after: String) { connections(first: 100, after: $after) {"
    " pageInfo { hasNextPage endCursor } nodes { id status sequence { id } record { id } } } }"
)


class Killed(BaseException):
    """The worker died in the middle of a chunk."""


def pk(global_id: str) -> int:
    return int(from_global_id(global_id)[1])


@dataclass
class Rec:
    id: str
    pk: int
    external_id: str
    name: str
    owner: int
    stage: str
    active: bool


def matches(f: dict[str, Any], r: Rec) -> bool:
    """connectSequenceByFilter's filter, as this test reads docs/jobs.md and the API."""
    search = (f.get("search") or "").lower()
    return (
        (f.get("stage") is None or f["stage"] == r.stage)
        and (f.get("owner") is None or f["owner"] == r.owner)
        and (f.get("isActive") is None or f["isActive"] == r.active)
        and (not search or search in r.name.lower() or search in r.external_id.lower())
    )


@dataclass
class JobM:
    id: str
    seq: int
    filter: dict[str, Any]
    #: None: the administrator; else the salesperson's index
    by: int | None
    total: int
    #: when it last took a turn (created, or a chunk ran)
    turn: int
    status: str = "QUEUED"
    cursor: int = 0
    done: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    cancel_requested: bool = False
    error: str | None = None
    #: what the machine saw (not the model): records its chunks connected, in order, and
    #: whether each chunk ran before a cancel was asked for
    connected: list[int] = field(default_factory=list)
    after_cancel: list[int] = field(default_factory=list)
    #: records that matched its filter at every step of its life, and at some step
    always: set[int] = field(default_factory=set)
    ever: set[int] = field(default_factory=set)
    #: records connectable all its life (active, allowed, not running in its sequence but
    #: by its own connection)
    always_free: set[int] = field(default_factory=set)


FILTERS = st.fixed_dictionaries(
    {
        "stage": st.sampled_from([None, None, None, *STAGES]),
        "owner": st.sampled_from([None, None, 0, 1]),
        "isActive": st.sampled_from([None, None, True, False]),
        "search": st.sampled_from([None, None, None, "acme"]),
    }
)
ARGUMENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "upsert": st.fixed_dictionaries(
        {
            "rec": st.integers(0, RECORDS - 1),
            "stage": st.sampled_from([None, *STAGES]),
            "owner": st.sampled_from([None, None, 0, 1]),
            "name": st.sampled_from([None, None, "Acme", "Beta"]),
            "active": st.sampled_from([None, None, None, True, False]),
        }
    ),
    "start_job": st.fixed_dictionaries(
        {
            "seq": st.integers(0, SEQUENCES - 1),
            "filter": FILTERS,
            "by": st.sampled_from([None, None, 0]),
        }
    ),
    "chunk": st.fixed_dictionaries({"how": st.sampled_from(["alone", "alone", "round", "killed"])}),
    "cancel": st.fixed_dictionaries({"which": st.integers(0, 20)}),
    "disconnect": st.fixed_dictionaries({"which": st.integers(0, 50)}),
    "toggle_sequence": st.fixed_dictionaries({"seq": st.integers(0, SEQUENCES - 1)}),
    "seller": st.fixed_dictionaries({"what": st.sampled_from(["active", "roles", "roles"])}),
}
WEIGHTS = {
    "upsert": 3,
    "start_job": 2,
    "chunk": 5,
    "cancel": 2,
    "disconnect": 1,
    "toggle_sequence": 1,
    "seller": 1,
}
#: What happens in a step, weighted: a method and its arguments.
ACTIONS = st.sampled_from([n for n, w in WEIGHTS.items() for _ in range(w)]).flatmap(
    lambda name: st.tuples(st.just(name), ARGUMENTS[name])
)


class Jobs(RuleBasedStateMachine):
    world: World
    patch: pytest.MonkeyPatch

    @initialize(records=st.integers(5, 9))
    def setup(self, records: int) -> None:
        engine = self.world.app.state.services.engine
        self.run(engine.run_until_idle())  # no other test's job takes a turn
        self.api: Api = self.run(new_org(self.world.http, self.world.db))
        self.recs: list[Rec | None] = [None] * RECORDS
        self.jobs: list[JobM] = []
        #: (sequence, record pk) -> connections, oldest first: [status, job id, whether the
        #: engine ran its step (made its task)]
        self.conns: dict[tuple[int, int], list[list[Any]]] = {}
        self.turns = 0
        self.seen_jobs: dict[str, dict[str, Any]] = {}
        self.run(self._setup())
        for rec in range(records):
            self.upsert(rec, "Qualify", rec % 2, ("Acme", "Beta")[rec % 3 == 0], None)

    def run(self, coro: Any) -> Any:
        return self.world.run(coro)

    async def _setup(self) -> None:
        api = self.api
        self.sellers: list[str] = []
        self.seller_apis: list[Api] = []
        for _ in range(2):
            _, token = await api.user(["SALESPERSON"])
            me = await api.as_token(token).ok("{ viewer { user { id } } }")
            self.sellers.append(me["viewer"]["user"]["id"])
            self.seller_apis.append(api.as_token(token))
        self.sequences = [(await simple_active(api, f"S{i}"))["id"] for i in range(SEQUENCES)]
        self.active = [True] * SEQUENCES
        self.seller_active = [True, True]
        #: whether seller 0 is a SALES_MANAGER now (else a SALESPERSON)
        self.manager = [False, False]

    def turn(self) -> int:
        self.turns += 1
        return self.turns

    def running(self, seq: int, record: int) -> list[Any] | None:
        found = [c for c in self.conns.get((seq, record), []) if c[0] == "CONNECTED"]
        assert len(found) <= 1, found
        return found[0] if found else None

    def records(self) -> list[Rec]:
        return sorted((r for r in self.recs if r is not None), key=lambda r: r.pk)

    def after_step(self) -> None:
        """What each open job's filter matched at this step."""
        for job in self.jobs:
            if job.status not in OPEN:
                continue
            now = {r.pk for r in self.records() if matches(job.filter, r)}
            job.always &= now
            job.ever |= now
            job.always_free &= {
                r.pk
                for r in self.records()
                if r.active
                and self.seller_active[r.owner]
                and not self.forbidden(job, r)
                and ((c := self.running(job.seq, r.pk)) is None or c[1] == job.id)
            }

    # --- What happens ------------------------------------------------------------------------

    def upsert(
        self, rec: int, stage: str | None, owner: int | None, name: str | None, active: bool | None
    ) -> None:
        """A record created (owner, name and stage of its own), or changed."""
        before = self.recs[rec]
        if before is None:
            owner = 0 if owner is None else owner
            name = name or "Beta"
            stage = stage or "Qualify"
        item: dict[str, Any] = {"recordType": "lead", "externalId": f"J{rec}"}
        if name is not None:
            item["name"] = f"{name} J{rec}"
        if owner is not None:
            item["ownerUserId"] = self.sellers[owner]
        if stage is not None:
            item["stage"] = stage
        if active is not None:
            item["isActive"] = active
        payload = self.run(
            self.api.mutate("upsertRecords", {"records": [item]}, "results { record { id } }")
        )
        assert payload["errors"] == [], payload
        record_id = payload["results"][0]["record"]["id"]
        after = Rec(
            record_id,
            pk(record_id),
            f"J{rec}",
            item.get("name", before.name if before else ""),
            owner if owner is not None else before.owner,  # type: ignore[union-attr]
            stage if stage is not None else before.stage,  # type: ignore[union-attr]
            active if active is not None else (before.active if before else True),
        )
        self.recs[rec] = after
        if before is not None and before.active and not after.active:
            for conns in (self.conns.get((s, after.pk), []) for s in range(SEQUENCES)):
                for c in conns:
                    c[0] = "DISCONNECTED"

    def start_job(self, seq: int, filter: dict[str, Any], by: int | None) -> None:
        if by is not None and not self.seller_active[by]:
            return  # their token does not sign in
        api = self.api if by is None else self.seller_apis[by]
        given = {
            "recordType": "lead",
            **{k: v for k, v in filter.items() if k != "owner" and v is not None},
        }
        if filter["owner"] is not None:
            given["ownerUserId"] = self.sellers[filter["owner"]]
        payload = self.run(
            api.mutate(
                "connectSequenceByFilter",
                {"sequenceId": self.sequences[seq], "filter": given, "asJob": True},
                f"matchedCount connectedCount job {{ {JOB} }}",
            )
        )
        if not self.active[seq]:
            assert [e["code"] for e in payload["errors"]] == ["SEQUENCE_INACTIVE"], payload
            assert payload["job"] is None
            return
        assert payload["errors"] == [], payload
        matching = {r.pk for r in self.records() if matches(filter, r)}
        job = JobM(payload["job"]["id"], seq, filter, by, len(matching), self.turn())
        job.always, job.ever = set(matching), set(matching)
        job.always_free = {r.pk for r in self.records()}
        self.jobs.append(job)
        assert (payload["matchedCount"], payload["connectedCount"]) == (0, 0), payload

    def chunk(self, how: str) -> None:
        """A worker runs one chunk of the open job whose turn it is: alone, in a whole worker
        round, or dying before the chunk's commit."""
        engine = self.world.app.state.services.engine
        engine.jobs.chunk = CHUNK
        open_jobs = [j for j in self.jobs if j.status in OPEN]
        job = min(open_jobs, key=lambda j: j.turn) if open_jobs else None
        # a chunk that meets records of an inactive sequence fails before it would die
        dies = (
            how == "killed"
            and job is not None
            and not job.cancel_requested
            and (job.by is None or self.seller_active[job.by])
            and (self.active[job.seq] or not self.meets(job))
        )
        before = self.connection_ids()
        if dies:
            real = job_ops.connect_chunk

            async def connects_then_dies(*args: Any, **kwargs: Any) -> Any:
                await real(*args, **kwargs)  # connected, not committed yet
                raise Killed

            self.patch.setattr(job_ops, "connect_chunk", connects_then_dies)
            try:
                with pytest.raises(Killed):
                    self.run(engine.jobs.run_due())
            finally:
                self.patch.setattr(job_ops, "connect_chunk", real)
            assert self.connection_ids() == before, "a chunk that did not commit left connections"
            return
        if how == "round":
            self.run(engine.run_batch())
            self.steps_run()
        else:
            assert self.run(engine.jobs.run_due()) == (job is not None)
        made = self.connection_ids() - before
        if job is None:
            assert not made, made
            return
        self.model_chunk(job)
        # what the chunk made, against its job (not the model)
        records = [record for (_, seq, record) in made]
        assert {seq for (_, seq, _) in made} <= {job.seq}, made
        assert not set(records) & set(job.connected + job.after_cancel), (records, job)
        by_pk = {r.pk: r for r in self.records()}
        assert all(matches(job.filter, by_pk[r]) for r in records), (records, job.filter)
        if job.cancel_requested or job.status == "CANCELED":
            job.after_cancel += records
        else:
            job.connected += records

    def model_chunk(self, job: JobM) -> None:
        if job.cancel_requested:
            job.status = "CANCELED"
            return
        job.status, job.turn = "RUNNING", self.turn()
        if job.by is not None and not self.seller_active[job.by]:
            job.status, job.error = "FAILED", "FORBIDDEN"
            return
        met = self.meets(job)
        if met and not self.active[job.seq]:
            job.status, job.error = "FAILED", "SEQUENCE_INACTIVE"
            return
        for r in met:
            if self.forbidden(job, r):
                job.skipped["FORBIDDEN"] += 1
            elif not r.active:
                job.skipped["RECORD_INACTIVE"] += 1
            elif not self.seller_active[r.owner]:  # the sequence's assignee: the owner
                job.skipped["NO_ASSIGNEE"] += 1
            elif self.running(job.seq, r.pk) is not None:
                job.skipped["ALREADY_CONNECTED"] += 1
            else:
                job.done += 1
                self.conns.setdefault((job.seq, r.pk), []).append(["CONNECTED", job.id, False])
        if met:
            job.cursor = met[-1].pk
        if len(met) < CHUNK:
            job.status = "SUCCEEDED"
            job.total = job.done + sum(job.skipped.values())

    def steps_run(self) -> None:
        """A worker round ran the steps of the connections made before it: a task for the
        record's owner, or ERROR (NO_ASSIGNEE) when the owner has been deactivated."""
        by_pk = {r.pk: r for r in self.records()}
        for (_, record), conns in self.conns.items():
            for c in conns:
                if c[0] == "CONNECTED" and not c[2]:
                    c[2] = True
                    if not self.seller_active[by_pk[record].owner]:
                        c[0] = "ERROR"

    def forbidden(self, job: JobM, r: Rec) -> bool:
        """Whether the job's creator, with their roles of now, may not connect the record."""
        return job.by is not None and self.manager[job.by] is False and r.owner != job.by

    def meets(self, job: JobM) -> list[Rec]:
        """The records the job's next chunk meets."""
        return [r for r in self.records() if r.pk > job.cursor and matches(job.filter, r)][:CHUNK]

    def cancel(self, which: int) -> None:
        if not self.jobs:
            return
        job = self.jobs[which % len(self.jobs)]
        payload = self.run(self.api.mutate("cancelJob", {"id": job.id}, f"job {{ {JOB} }}"))
        if job.status not in OPEN:
            assert [(e["code"], e["field"]) for e in payload["errors"]] == [
                ("INVALID_VALUE", ["id"])
            ], payload
            return
        assert payload["errors"] == [], payload
        job.cancel_requested = True
        if job.status == "QUEUED":
            job.status = "CANCELED"

    def disconnect(self, which: int) -> None:
        nodes = [n for n in self.connections() if n["status"] == "CONNECTED"]
        if not nodes:
            return
        node = nodes[which % len(nodes)]
        payload = self.run(
            self.api.mutate("disconnectSequence", {"connectionId": node["id"]}, "__typename")
        )
        assert payload["errors"] == [], payload
        conn = self.running(self.sequences.index(node["sequence"]["id"]), pk(node["record"]["id"]))
        assert conn is not None
        conn[0] = "DISCONNECTED"

    def seller(self, what: str) -> None:
        """Seller 0 deactivated or activated again, or made a SALES_MANAGER or a SALESPERSON
        again: a job runs as its creator is at each chunk."""
        if what == "active":
            self.seller_active[0] = not self.seller_active[0]
            name, given = "updateUser", {"isActive": self.seller_active[0]}
        else:
            self.manager[0] = not self.manager[0]
            name, given = (
                "setUserRoles",
                {"roles": ["SALES_MANAGER" if self.manager[0] else "SALESPERSON"]},
            )
        payload = self.run(
            self.api.mutate(name, {"userId": self.sellers[0], **given}, "__typename")
        )
        assert payload["errors"] == [], payload

    def toggle_sequence(self, seq: int) -> None:
        name = "deactivateSequence" if self.active[seq] else "activateSequence"
        payload = self.run(self.api.mutate(name, {"sequenceId": self.sequences[seq]}, "__typename"))
        assert payload["errors"] == [], payload
        self.active[seq] = not self.active[seq]
        if not self.active[seq]:
            for (s, _), conns in self.conns.items():
                for c in conns:
                    if s == seq:
                        c[0] = "DISCONNECTED"

    @rule(action=ACTIONS)
    def happens(self, action: tuple[str, dict[str, Any]]) -> None:
        """One of the methods above: a single rule, so that every example mixes them (as
        rules of their own, Hypothesis' swarm testing would turn some off per example)."""
        name, args = action
        getattr(self, name)(**args)
        self.after_step()

    def teardown(self) -> None:
        """The open jobs canceled and ended: no later example's or test's chunk is theirs."""
        if not hasattr(self, "api"):
            return
        for job in self.jobs:
            if job.status in OPEN:
                self.run(self.api.mutate("cancelJob", {"id": job.id}, "__typename"))
        jobs = self.world.app.state.services.engine.jobs
        for _ in range(len(self.jobs)):
            if not self.run(jobs.run_due()):
                break

    # --- What must hold ----------------------------------------------------------------------

    def connections(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.run(self.api.ok(CONNECTIONS, {"after": after}))["connections"]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return nodes
            after = page["pageInfo"]["endCursor"]

    def connection_ids(self) -> set[tuple[str, int, int]]:
        return {
            (n["id"], self.sequences.index(n["sequence"]["id"]), pk(n["record"]["id"]))
            for n in self.connections()
        }

    @invariant()
    def jobs_and_connections_are_as_modelled(self) -> None:
        if not hasattr(self, "api"):
            return
        nodes = {j["id"]: j for j in self.run(self.api.ok(JOBS))["jobs"]["nodes"]}
        assert set(nodes) == {j.id for j in self.jobs}
        for job in self.jobs:
            got = nodes[job.id]
            skipped = {s["code"]: s["count"] for s in got["skipped"]}
            assert (got["status"], got["done"], skipped, got["cancelRequested"], got["total"]) == (
                job.status,
                job.done,
                dict(job.skipped),
                job.cancel_requested,
                job.total,
            ), (got, job)
            assert (got["error"] is None) is (job.error is None), (got, job)
            assert (got["error"] or "").startswith(job.error or ""), (got, job)
            assert got["skippedCount"] == sum(skipped.values()) and got["errorCount"] == 0
            self.check_progress(job, got)
        running = {
            (self.sequences.index(n["sequence"]["id"]), pk(n["record"]["id"]))
            for n in self.connections()
            if n["status"] == "CONNECTED"
        }
        modelled = {key for key, conns in self.conns.items() for c in conns if c[0] == "CONNECTED"}
        assert running == modelled, (running, modelled)

    def check_progress(self, job: JobM, got: dict[str, Any]) -> None:
        """Invariants 1 to 5, from what the API shows and what the chunks made."""
        previous = self.seen_jobs.get(job.id)
        self.seen_jobs[job.id] = got
        counted = got["done"] + got["skippedCount"] + got["errorCount"]
        if previous is not None:
            if previous["status"] not in OPEN:
                assert got == previous, (previous, got)
            for key in ("done", "skippedCount", "errorCount"):
                assert got[key] >= previous[key], (previous, got)
            moves = {("QUEUED", "RUNNING")} | {
                (start, end) for start in OPEN for end in ("SUCCEEDED", "FAILED", "CANCELED")
            }
            assert (
                got["status"] == previous["status"] or (previous["status"], got["status"]) in moves
            )
        assert counted <= len(job.ever), (got, job.ever)
        assert got["done"] == len(job.connected) and not job.after_cancel, (got, job)
        assert len(set(job.connected)) == len(job.connected), job.connected
        if got["status"] == "SUCCEEDED":
            assert got["total"] == counted, got
            assert counted >= len(job.always), (got, job.always)
            assert job.always & job.always_free <= set(job.connected), (job, got)


def test_connect_jobs_keep_their_invariants(
    database_url: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`db` migrates the database; the machine runs its own app on its own event loop."""
    world = World(database_url)
    Jobs.world, Jobs.patch = world, monkeypatch
    try:
        run_state_machine_as_test(
            Jobs,
            settings=settings(
                max_examples=16 * SCALE,
                stateful_step_count=40,
                deadline=None,
                database=None,
                derandomize=SCALE == 1,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        world.close()
