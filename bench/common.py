"""What every scenario shares: options, databases, child processes, machine facts, results.

A scenario is a module with `main()`; `python -m bench.<scenario> --backend sqlite|postgres
[--smoke] [--out DIR]` runs it on one backend and writes `DIR/<backend>/<scenario>.json`.
`bench.run` runs them all and renders `docs/benchmarks.md` (`bench.render`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
#: Every generated data set starts from this seed, so runs compare like with like.
SEED = 20240607
POSTGRES_ENV = "SEKVENS_BENCH_POSTGRES_URL"


@dataclass
class Options:
    backend: str
    smoke: bool
    out: Path
    workdir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def size(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full

    @property
    def postgres_url(self) -> str:
        url = os.environ.get(POSTGRES_ENV)
        if not url:
            raise SystemExit(f"--backend postgres needs {POSTGRES_ENV}")
        return url


def options(description: str, argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    args = parser.parse_args(argv)
    out = args.out or (RESULTS if not args.smoke else Path(tempfile.gettempdir()) / "sekvens-smoke")
    workdir = Path(tempfile.mkdtemp(prefix="sekvens-bench-"))
    return Options(args.backend, args.smoke, out, workdir)


# --- Databases --------------------------------------------------------------------------


async def _pg_execute(base_url: str, sql: str) -> None:
    from sekvens.storage.db import create_engine

    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            from sqlalchemy import text

            await conn.execute(text(sql))
    finally:
        await admin.dispose()


def _pg_url_with_db(base_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def create_database(opts: Options, name: str) -> str:
    """A new empty, migrated database; returns its URL (plain scheme, as SEKVENS_* takes)."""
    from sekvens.config import Settings
    from sekvens.storage import migrate
    from sekvens.storage.db import Database

    if opts.backend == "sqlite":
        url = f"sqlite:///{opts.workdir / (name + '.db')}"
    else:
        db_name = f"sekvens_bench_{name}_{uuid.uuid4().hex[:6]}"
        await _pg_execute(opts.postgres_url, f'CREATE DATABASE "{db_name}"')
        url = _pg_url_with_db(opts.postgres_url, db_name)
    db = Database(Settings(database_url=url))
    try:
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()
    return url


def _copy_sqlite(source: str, dst: Path) -> str:
    src = source.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(src + suffix):
            shutil.copyfile(src + suffix, str(dst) + suffix)
    return f"sqlite:///{dst}"


def _remove_sqlite(url: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(url.removeprefix("sqlite:///") + suffix)


async def clone_database(opts: Options, source: str, name: str) -> str:
    """A copy of `source` (no connection may be open on it): a file copy or a PG template."""
    if opts.backend == "sqlite":
        return _copy_sqlite(source, opts.workdir / (name + ".db"))
    from sqlalchemy.engine import make_url

    src_name = make_url(source).database
    db_name = f"sekvens_bench_{name}_{uuid.uuid4().hex[:6]}"
    await _pg_execute(opts.postgres_url, f'CREATE DATABASE "{db_name}" TEMPLATE "{src_name}"')
    return _pg_url_with_db(opts.postgres_url, db_name)


async def drop_database(opts: Options, url: str) -> None:
    if opts.backend == "sqlite":
        _remove_sqlite(url)
        return
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    await _pg_execute(opts.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def vacuum(url: str) -> None:
    """Reclaim deleted rows and refresh planner statistics between two measured runs."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute("VACUUM")
            conn.execute("ANALYZE")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return
    from sqlalchemy import text

    from sekvens.storage.db import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


def cleanup(opts: Options) -> None:
    shutil.rmtree(opts.workdir, ignore_errors=True)


# --- Child processes ----------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.setdefault("SEKVENS_LOG_LEVEL", "WARNING")
    return env


def run_child(module: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `python -m module args` to completion; its last stdout line is a JSON result."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env or child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def max_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, the high-water mark of its own address
    space. (`getrusage`'s ru_maxrss is no good here: Linux carries the parent's resident
    size into a child across fork and exec, so a child reports at least its parent's.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


# --- Machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "strawberry-graphql",
        "graphql-core",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "uvloop",
        "httptools",
    ):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


async def postgres_version(url: str) -> str:
    from sqlalchemy import text

    from sekvens.storage.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            full = str(await conn.scalar(text("SHOW server_version")))
    finally:
        await engine.dispose()
    return full.split()[0]


def machine(opts: Options, pg_version: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "sqlite": sqlite3.sqlite_version,
        "packages": _versions(),
        "load_average": round(os.getloadavg()[0], 2),
    }
    if opts.backend == "postgres":
        info["postgresql"] = pg_version or asyncio.run(postgres_version(opts.postgres_url))
    return info


# --- Results ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass
class Target:
    name: str
    goal: str
    value: float | None
    met: bool | None
    unit: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "goal": self.goal,
            "value": self.value,
            "met": self.met,
            "unit": self.unit,
        }


def ratio_target(name: str, value: float, at_least: float) -> Target:
    return Target(name, f">= {at_least}x", round(value, 3), value >= at_least, "x")


def write_result(
    opts: Options,
    scenario: str,
    title: str,
    sizes: dict[str, Any],
    tables: list[dict[str, Any]],
    targets: Sequence[Target] = (),
    notes: Sequence[str] = (),
    status: str = "done",
    pg_version: str | None = None,
) -> Path:
    """`tables`: [{"title": ..., "rows": [{column: value, ...}, ...]}] in display order."""
    for table in tables:
        for row in table["rows"]:
            assert row, f"{scenario}: an empty row in {table['title']}"
    payload = {
        "scenario": scenario,
        "title": title,
        "backend": opts.backend,
        "smoke": opts.smoke,
        "status": status,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(opts, pg_version),
        "sizes": sizes,
        "tables": tables,
        "targets": [t.as_dict() for t in targets],
        "notes": list(notes),
    }
    path = opts.out / opts.backend / f"{scenario}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return path


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
