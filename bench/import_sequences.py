"""Import: a document of 1,000 sequences of 20 steps through `importSequences`: sequences
per second and peak memory, against plain batched INSERTs of the same sequence, version
and step rows into the same empty organization, in the same run.

The document is made by sekvens itself: the sequences are created in a source database
and exported with `exportSequences`; each run imports it into a fresh copy of a target
database whose organization has no sequences. Each run is a child process (peak RSS).
Targets (issue 14): at least 0.25x the batched INSERTs' sequences per second, under 300 MB."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench import common, data
from sekvens.app import create_app
from sekvens.plugins.registry import Registry
from sekvens.schema.relay import to_global_id
from sekvens.storage.tables import Sequence, SequenceStep, SequenceVersion

SCENARIO = "import_sequences"
TITLE = "Import (importSequences)"

EXPORT = """mutation Export($input: ExportSequencesInput!) {
  exportSequences(input: $input) { errors { code message } document }
}"""


def available() -> bool:
    from sekvens.graphql_schema import build_schema

    mutation = build_schema().as_str()
    return "importSequences(" in mutation and "exportSequences(" in mutation


async def make_source(opts: common.Options, n: int, steps: int, folder: Path) -> dict[str, Any]:
    url = await common.create_database(opts, f"{SCENARIO}_source")
    db = data.open_db(url)
    try:
        rng = random.Random(common.SEED)
        registry = Registry.from_entry_points()
        org = await data.organization(db, sellers=2)
        ids = await data.sequences(
            db, registry, org, rng, n, steps=(steps, steps), activate_share=0.0
        )
        app = create_app(db.settings, db)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=None
        ) as client:
            response = await client.post(
                "/graphql",
                json={
                    "query": EXPORT,
                    "variables": {
                        "input": {
                            "sequenceIds": [to_global_id("Sequence", i) for i in ids],
                            "includeDependencies": False,
                        }
                    },
                },
                headers={"Authorization": f"Bearer {org.admin_token}"},
            )
        payload = response.json()["data"]["exportSequences"]
        if payload["errors"]:
            raise RuntimeError(f"exportSequences failed: {payload['errors']}")
        document = folder / "document.json"
        document.write_text(json.dumps(payload["document"]))
        # The rows the import should produce, for the baseline to insert.
        async with db.session() as session:
            seqs = list(
                await session.scalars(
                    select(Sequence).where(Sequence.id.in_(ids)).order_by(Sequence.id)
                )
            )
            versions = list(
                await session.scalars(
                    select(SequenceVersion)
                    .where(SequenceVersion.sequence_id.in_(ids))
                    .order_by(SequenceVersion.id)
                )
            )
            version_ids = [v.id for v in versions]
            step_rows = list(
                await session.scalars(
                    select(SequenceStep)
                    .where(SequenceStep.version_id.in_(version_ids))
                    .order_by(SequenceStep.id)
                )
            )
        return {
            "url": url,
            "document": document,
            "document_bytes": document.stat().st_size,
            "sequences": seqs,
            "versions": versions,
            "steps": step_rows,
        }
    finally:
        await db.dispose()


def baseline_rows(source: dict[str, Any], target: data.BenchOrg, folder: Path) -> Path:
    seq_index = {s.id: i for i, s in enumerate(source["sequences"])}
    ver_index = {v.id: i for i, v in enumerate(source["versions"])}

    def columns(row: Any, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
        return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}

    sequences = []
    for s in source["sequences"]:
        row = columns(s)
        row.update(
            organization_id=target.org_id,
            record_type_id=target.lead_type_id,
            owner_user_id=target.admin_id,
            created_by_id=target.admin_id,
            current_version_id=ver_index.get(s.current_version_id),
        )
        sequences.append(row)
    versions = []
    for v in source["versions"]:
        row = columns(v)
        row.update(
            sequence_id=seq_index[v.sequence_id],
            created_by_id=target.admin_id,
            activated_by_id=target.admin_id if v.activated_by_id else None,
        )
        versions.append(row)
    steps = []
    for st in source["steps"]:
        row = columns(st)
        row["version_id"] = ver_index[st.version_id]
        steps.append(row)
    path = folder / "rows.json"
    path.write_text(
        json.dumps(
            {"sequences": sequences, "versions": versions, "steps": steps, "tags": []},
            default=lambda v: v.isoformat(),
        )
    )
    return path


async def make_target(opts: common.Options) -> tuple[str, data.BenchOrg]:
    url = await common.create_database(opts, f"{SCENARIO}_target")
    db = data.open_db(url)
    try:
        org = await data.organization(db, sellers=2)
    finally:
        await db.dispose()
    return url, org


def main() -> None:
    opts = common.options(__doc__.splitlines()[0])
    n, steps = opts.size(1000, 10), opts.size(20, 5)
    sizes = {"sequences": n, "steps per sequence": steps}
    if not available():
        common.write_result(
            opts,
            SCENARIO,
            TITLE,
            sizes,
            [{"title": "Import", "rows": [{"status": "pending: no importSequences yet"}]}],
            notes=["sekvens has no importSequences mutation yet (issue 6)."],
            status="pending",
        )
        return
    folder = opts.workdir
    urls: list[str] = []
    try:
        common.log(f"{SCENARIO} on {opts.backend}: {n} sequences of {steps} steps; exporting")
        source = asyncio.run(make_source(opts, n, steps, folder))
        urls.append(source["url"])
        target_url, target = asyncio.run(make_target(opts))
        urls.append(target_url)
        rows_file = baseline_rows(source, target, folder)
        limit = str(max(source["document_bytes"] * 2, 10**7))
        # The document is bigger than the default request body limit (1 MiB): raised here,
        # as an operator importing such a document must (the result notes say so).
        env = common.child_env(
            SEKVENS_MAX_IMPORT_BYTES=limit,
            SEKVENS_MAX_BODY_BYTES=limit,
            SEKVENS_OPERATION_TIMEOUT_SECONDS="3600",
        )
        runs = {}
        for kind in ("baseline", "sekvens"):
            url = asyncio.run(common.clone_database(opts, target_url, f"{SCENARIO}_{kind}"))
            urls.append(url)
            common.log(f"import: {kind}")
            args = (
                (url, target.admin_token, str(source["document"]))
                if kind == "sekvens"
                else (url, str(rows_file))
            )
            runs[kind] = common.run_child("bench.import_child", kind, *args, env=env)
            asyncio.run(common.drop_database(opts, url))
            urls.remove(url)
    finally:
        for url in urls:
            asyncio.run(common.drop_database(opts, url))
        common.cleanup(opts)
    mine, base = runs["sekvens"], runs["baseline"]
    if mine["sequences"] != n:
        raise RuntimeError(f"imported {mine['sequences']} of {n} sequences")
    ratio = base["seconds"] / mine["seconds"]
    peak = mine["max_rss_mb"]
    rows = [
        {
            "run": name,
            "sequences/s": round(n / r["seconds"], 1),
            "seconds": round(r["seconds"], 2),
            "ratio": round(base["seconds"] / r["seconds"], 3),
            "statements": r["statements"],
            "peak RSS MB": r["max_rss_mb"],
            "RSS before MB": r["rss_before_mb"],
        }
        for name, r in (("sekvens importSequences", mine), ("baseline INSERTs", base))
    ]
    notes = [
        "importSequences with mode APPLY (conflict policy UPDATE, no activation); the "
        "document is sent as JSON text. The baseline inserts the same sequence, version "
        "and step rows (no audit rows) with SQLAlchemy Core executemany.",
    ]
    if source["document_bytes"] > 1024 * 1024:
        notes.append(
            f"The {source['document_bytes']:,}-byte document is over sekvens' default request "
            "body limit (SEKVENS_MAX_BODY_BYTES, 1 MiB), which refuses it with TOO_LONG before "
            "the import's own limit (SEKVENS_MAX_IMPORT_BYTES, 10 MiB) applies; both were "
            "raised for this run."
        )
    common.write_result(
        opts,
        SCENARIO,
        TITLE,
        {**sizes, "document bytes": source["document_bytes"]},
        [{"title": "Sequences imported per second and memory", "rows": rows}],
        [
            common.ratio_target("import: sequences/s vs batched INSERT", ratio, 0.25),
            common.Target("import: peak memory", "< 300 MB", peak, peak < 300, "MB"),
        ],
        notes,
    )


if __name__ == "__main__":
    main()
