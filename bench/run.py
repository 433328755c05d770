"""Run every scenario on SQLite and, where SEKVENS_BENCH_POSTGRES_URL is set, PostgreSQL,
then render the results.

    python -m bench.run            full sizes, plus the engine experiments; results in
                                   bench/results/, docs/benchmarks.md
    python -m bench.run --smoke    tiny sizes, seconds long; asserts only that every
                                   scenario completes and writes its figures
    python -m bench.run --only home_grid,engine --backend postgres

`peer_postgraphile` (reads against PostGraphile 4) runs on PostgreSQL only; without Node.js
and npm, or when the npm install fails, it writes a result that says it was skipped and
why, which does not fail the run.

Each scenario runs in its own process; one that fails does not stop the others, but makes
the run fail at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import POSTGRES_ENV, RESULTS, ROOT, child_env, log

SCENARIOS = [
    "statements",
    "home_grid",
    "designer",
    "up_next",
    "peer_postgraphile",
    "scale_out",
    "bulk_connect",
    "engine",
    "import_sequences",
]
#: Run in full runs only, and a failure is a warning: the engine experiments patch the
#: engine's internals, so a change there may stop them applying (bench/experiments.py).
OPTIONAL = {"engine_experiments": "experiments"}
#: Scenarios that run on PostgreSQL only (the peer serves nothing else; several API
#: processes need a database server).
POSTGRES_ONLY = {"peer_postgraphile", "scale_out"}
DOC = ROOT / "docs" / "benchmarks.md"


def check(path: Path, started: float) -> str | None:
    """Why the result at `path` is not a complete, fresh result (None when it is)."""
    if not path.exists():
        return "wrote no result"
    if path.stat().st_mtime < started:
        return "left an old result"
    result = json.loads(path.read_text())
    if result.get("status") in ("pending", "skipped"):
        return None
    tables = result.get("tables") or []
    if not tables or not all(t.get("rows") for t in tables):
        return "wrote no figures"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated scenarios")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    scenarios = [s for s in args.only.split(",") if s] or (
        SCENARIOS + ([] if args.smoke else list(OPTIONAL))
    )
    unknown = set(scenarios) - set(SCENARIOS) - set(OPTIONAL)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if not os.environ.get(POSTGRES_ENV):
        if args.backend == "postgres":
            parser.error(f"--backend postgres needs {POSTGRES_ENV}")
        backends = [b for b in backends if b != "postgres"]
        log(f"{POSTGRES_ENV} is not set: SQLite only")
    out = args.out or (Path(tempfile.gettempdir()) / "sekvens-smoke" if args.smoke else RESULTS)
    failures = []
    begun = time.time()
    for backend in backends:
        for scenario in scenarios:
            if scenario in POSTGRES_ONLY and backend != "postgres":
                continue
            started = time.time()
            log(f"== {scenario} on {backend}")
            module = OPTIONAL.get(scenario, scenario)
            cmd = [sys.executable, "-m", f"bench.{module}", "--backend", backend]
            cmd += ["--out", str(out)] + (["--smoke"] if args.smoke else [])
            code = subprocess.run(cmd, cwd=ROOT, env=child_env(), check=False).returncode
            problem = (
                f"exited with {code}"
                if code
                else check(out / backend / f"{scenario}.json", started)
            )
            took = time.time() - started
            if problem and scenario in OPTIONAL:
                log(f"warning: {scenario} on {backend}: {problem} ({took:.0f} s); not a failure")
            elif problem:
                failures.append(f"{scenario} on {backend}: {problem}")
                log(f"!! {scenario} on {backend}: {problem} ({took:.0f} s)")
            else:
                log(f"ok {scenario} on {backend} ({took:.0f} s)")
    from bench.render import render

    target = out / "benchmarks.md" if args.smoke or args.out else DOC
    target.write_text(render(out))
    log(f"rendered {target} ({time.time() - begun:.0f} s in all)")
    if failures:
        print("\n".join(["failed:", *failures]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
