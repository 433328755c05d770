"""Browser tests: Debian's Chromium, driven by Playwright for Python, against a real
`sekvens serve` on a loopback port (docs/web-app.md#browser-tests).

One server process for the whole session, on a fresh SQLite file with the demo data; its
users' tokens come from `sekvens demo`. Tests marked `browser` are skipped, with the reason,
where Playwright or Chromium is missing (SEKVENS_REQUIRE_BROWSER=1, as `.ci/run` sets,
makes that an error instead). Playwright's own browser downloads are never used: Chromium
is launched from SEKVENS_CHROMIUM (default /usr/bin/chromium).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("SEKVENS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SEKVENS = str(Path(sys.executable).with_name("sekvens"))
#: The demo users the tests sign in as (sekvens/demo.py PEOPLE).
MANAGER = "sequences@demo.example"
SELLER = "kari@demo.example"
#: How long the browser waits for something to appear (ms).
TIMEOUT_MS = 10_000


def missing() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: runs the web app in a headless Chromium (tests/browser)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
    reason = missing()
    if reason is None or os.environ.get("SEKVENS_REQUIRE_BROWSER") == "1":
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {reason}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running `sekvens serve`: its address, database and the demo users' tokens."""

    base_url: str
    env: dict[str, str]
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def manager_token(self) -> str:
        return self.tokens[MANAGER]

    @property
    def seller_token(self) -> str:
        return self.tokens[SELLER]

    def cli(self, *args: str) -> str:
        """Run `sekvens ...` against the served database; its output."""
        done = subprocess.run(
            [SEKVENS, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def login_link(self, email: str) -> str:
        return self.cli("user", "login-link", "--email", email, "--base-url", self.base_url).strip()

    def graphql(self, query: str, token: str | None, variables: Any = None) -> dict[str, Any]:
        """POST to /graphql; the JSON body whatever the status."""
        request = urllib.request.Request(
            f"{self.base_url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as e:
            return dict(json.load(e))


def server_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKVENS_")}
    env.update(
        SEKVENS_DATABASE_URL=database_url,
        SEKVENS_WEB_APP="1",
        SEKVENS_LOG_LEVEL="WARNING",
        SEKVENS_DISABLED_STEP_TYPES="",
    )
    return env


def demo_tokens(output: str) -> dict[str, str]:
    """{email: token} of `sekvens demo`'s output."""
    return dict(re.findall(r"^\s+(\S+@\S+)\s+\S+\s+(\S+)$", output, re.MULTILINE))


def start_server(directory: Path, port: int | None = None) -> Iterator[Server]:
    """Load the demo into a new SQLite file, serve it, wait for /readyz; stop it afterwards."""
    env = server_env(f"sqlite:///{directory / 'sekvens.db'}")
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = Server(base_url, env, directory / "serve.log")
    server.tokens = demo_tokens(server.cli("demo"))
    assert MANAGER in server.tokens and SELLER in server.tokens, server.tokens
    with server.log.open("w") as log:
        process = subprocess.Popen(
            [SEKVENS, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sekvens serve did not start:\n{server.log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one test module: Playwright's sync API runs an event loop in this thread
    while it is open, which the asyncio tests of later modules could not run beside."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def anonymous_page(browser: Any, server: Server) -> Iterator[Any]:
    """A new browser tab (its own session storage), signed in as nobody."""
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1366, "height": 850})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Any, server: Server, token: str, path: str = "/sequences") -> Any:
    """Sign `page` in with `token` (kept in session storage, as the sign-in form does) and
    open `path`."""
    page.goto(f"{server.base_url}/#/sign-in")
    page.evaluate("t => sessionStorage.setItem('sekvens.token', t)", token)
    page.goto(f"{server.base_url}/#{path}")
    page.reload()
    page.locator("#nav .who").wait_for()
    return page


@pytest.fixture
def page(anonymous_page: Any, server: Server) -> Any:
    """A tab signed in as the demo's sequence manager, on the sequences screen."""
    return sign_in(anonymous_page, server, server.manager_token)


@pytest.fixture
def seller_page(browser: Any, server: Server) -> Iterator[Any]:
    """A tab signed in as a demo seller, on the up-next screen."""
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1366, "height": 850})
    context.set_default_timeout(TIMEOUT_MS)
    yield sign_in(context.new_page(), server, server.seller_token, "/up-next")
    context.close()
