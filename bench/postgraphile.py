"""PostGraphile 4 as a peer server: installed with npm into a cache folder outside the
repository, started over a benchmark database, stopped at the end.

PostGraphile compiles a GraphQL document into one SQL statement that builds the JSON in
PostgreSQL. It reads sekvens' own tables as they are (no sekvens code involved); the
documents below are the closest equivalents of the suite's sekvens documents
(`bench/peer_postgraphile.py` pairs them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import free_port, log, wait_for_port

PACKAGES = {
    "postgraphile": "^4.14.1",
    "@graphile-contrib/pg-simplify-inflector": "^6.1.0",
    "postgraphile-plugin-connection-filter": "^2.3.0",
}
PLUGINS = "@graphile-contrib/pg-simplify-inflector,postgraphile-plugin-connection-filter"
POOL = 10
RC = (
    "module.exports = { options: { graphileBuildOptions: { connectionFilterRelations: true } } };\n"
)

#: The home grid (sekvens: the suite's grid document without `tags.path`, which has no
#: equivalent here). Scoped to the organization by a condition the client sends.
GRID = """query HomeGrid($first: Int!, $org: BigInt!) {
  sequences(first: $first, orderBy: ID_ASC, condition: {organizationId: $org}) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id key name description status isPersonal createdAt modifiedAt: updatedAt
      latestVersion: sequenceVersions(orderBy: NUMBER_DESC, first: 1) {
        nodes {
          sequenceStepsByVersionId(filter: {type: {notEqualTo: "core.start"}}) { totalCount }
        }
      }
      activeConnections: connections(filter: {status: {in: ["CONNECTED", "PAUSED"]}}) { totalCount }
      recordType { name }
      ownerUser { id name }
      sequenceTags { nodes { tag { id name } } }
    }
  }
}"""

#: One seller's up next page.
UP_NEXT = """query UpNext($first: Int!, $user: BigInt!) {
  activities(first: $first, orderBy: [DUE_AT_ASC, ID_ASC], condition: {status: "OPEN"},
             filter: {activityAssignees: {some: {userId: {equalTo: $user}}}}) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id subject kind: activityKind stepType status dueAt
      record { id name }
      sequence { id name }
    }
  }
}"""

#: The designer: the latest version's steps (sekvens: the suite's designer document without
#: `validation`; the tree's derived fields, parent, next, yes, no and depth, come from
#: `parentKey` and `branch`).
DESIGNER = """query Designer($id: BigInt!) {
  sequence(id: $id) {
    id name status
    latestVersion: sequenceVersions(orderBy: NUMBER_DESC, first: 1) {
      nodes {
        steps: sequenceStepsByVersionId(orderBy: POSITION_ASC) {
          nodes { id key type name description config parentKey branch }
        }
      }
    }
  }
}"""

#: The trivial authenticated read: the signed-in user's email.
VIEWER = """query Viewer($id: BigInt!) { user(id: $id) { email } }"""


def cache_dir() -> Path:
    """Where the packages go: outside the repository, one folder per set of versions."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(json.dumps(PACKAGES, sort_keys=True).encode()).hexdigest()[:12]
    return base / "sekvens-bench" / f"postgraphile-{key}"


def cli_path(folder: Path) -> Path:
    return folder / "node_modules" / "postgraphile" / "cli.js"


def install() -> tuple[Path | None, str]:
    """(the folder with node_modules, how it got there) or (None, why it cannot be run).

    Installs once: a finished install is marked, and a new one is made in a scratch folder
    beside the cache and renamed into place, so an interrupted install leaves nothing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "Node.js is not installed here (no `node` or `npm` on PATH)"
    folder = cache_dir()
    marker = folder / ".installed"
    if marker.exists() and cli_path(folder).exists():
        return folder, f"cached in {folder}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".install-", dir=folder.parent))
    manifest = {"name": "sekvens-bench-postgraphile", "private": True, "dependencies": PACKAGES}
    (scratch / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"installing PostGraphile with npm into {folder}")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(scratch, ignore_errors=True)
        return None, f"npm install failed: {e}"
    if proc.returncode != 0 or not cli_path(scratch).exists():
        shutil.rmtree(scratch, ignore_errors=True)
        head = " ".join((proc.stderr or proc.stdout).strip().splitlines()[:3])
        return None, f"npm install failed (exit {proc.returncode}): {head[:400]}"
    (scratch / ".installed").write_text(json.dumps(PACKAGES) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        scratch.rename(folder)
    except OSError:  # another run finished first
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"installed in {time.monotonic() - started:.0f} s")
    return folder, f"installed with npm into {folder}"


def version(folder: Path) -> str:
    manifest = folder / "node_modules" / "postgraphile" / "package.json"
    return str(json.loads(manifest.read_text()).get("version", "?"))


def node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "?"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().lstrip("v")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(secret: str, claims: dict[str, Any]) -> str:
    """An HS256 token PostGraphile accepts (its default audience is "postgraphile")."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"aud": "postgraphile", **claims}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(signature.digest())}"


@dataclass
class PostGraphile:
    port: int
    proc: subprocess.Popen[bytes]
    secret: str
    #: Its output (warnings; with `trace`, every SQL statement), removed by `stop`.
    log_path: Path
    _log: Any = field(default=None, repr=False)

    def token(self, user_id: int, organization_id: int) -> str:
        return jwt(self.secret, {"user_id": user_id, "organization_id": organization_id})

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.log_path.unlink(missing_ok=True)

    def queries(self) -> list[str]:
        """The SQL statements it sent so far (only logged when started with `trace=True`)."""
        return [line for line in self.output().splitlines() if "postgraphile:postgres " in line]


def start(folder: Path, database_url: str, trace: bool = False) -> PostGraphile:
    """One PostGraphile process over `database_url` (postgresql://...), pool of 10, JWT,
    no query log, on a free port; returns once it answers. `trace` logs every SQL
    statement it sends (`DEBUG=postgraphile:postgres`) to count them; not for timing."""
    port = free_port()
    secret = secrets.token_urlsafe(32)
    url = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    env = {**os.environ, "NODE_ENV": "production"}
    if trace:
        env.update(DEBUG="postgraphile:postgres", DEBUG_COLORS="0", DEBUG_HIDE_DATE="1")
    fd, name = tempfile.mkstemp(prefix="sekvens-bench-postgraphile-", suffix=".log")
    os.close(fd)
    log_path = Path(name)
    out = log_path.open("w+b")
    # The up next filter goes through a relation (`activityAssignees: {some: ...}`), which
    # the connection filter plugin allows only with this option, settable only in the rc file.
    (folder / ".postgraphilerc.js").write_text(RC)
    node = shutil.which("node") or "node"
    proc = subprocess.Popen(
        [
            node,
            str(cli_path(folder)),
            "--connection",
            url,
            "--schema",
            "public",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--disable-default-mutations",
            "--dynamic-json",
            "--no-setof-functions-contain-nulls",
            "--append-plugins",
            PLUGINS,
            "--disable-graphiql",
            "--disable-query-log",
            "--max-pool-size",
            str(POOL),
            "--jwt-secret",
            secret,
        ],
        cwd=folder,
        env=env,
        stdout=out,
        stderr=out,
    )
    server = PostGraphile(port, proc, secret, log_path, out)
    try:
        wait_for_port(port, proc, timeout=60)
        _wait_ready(port, proc)
    except Exception as e:
        tail = "\n".join(server.output().strip().splitlines()[-20:])
        server.stop()
        raise RuntimeError(f"PostGraphile did not start: {e}\n{tail}") from e
    return server


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """The port opens before the schema is built: wait for `{ __typename }` to answer."""
    import http.client

    deadline = time.monotonic() + timeout
    body = json.dumps({"query": "{ __typename }"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"PostGraphile exited with {proc.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/graphql", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            if response.status == 200 and b"Query" in response.read():
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(f"PostGraphile did not answer on port {port} within {timeout} s")
