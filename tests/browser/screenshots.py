"""`make screenshots`: the web app's main screens as PNGs in docs/screenshots/.

Starts `sekvens serve` with the demo data on a free loopback port (as the browser tests do),
signs in in a headless Chromium and saves each screen. A screen not built yet is saved as
whatever the app shows for it.

    python -m tests.browser.screenshots [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    Server,
    missing,
    sign_in,
    start_server,
)

ROOT = Path(__file__).resolve().parents[2]
#: The demo sequence the designer and insight screens show (sekvens/demo.py).
DEMO_SEQUENCE = "Demo: intro email"
FIND = "query($q: String) { sequences(search: $q, first: 5) { nodes { id name } } }"


def settle(page: Any) -> None:
    """Wait until the screen has rendered (the router clears aria-busy) and data arrived."""
    page.wait_for_function("() => !document.getElementById('view').hasAttribute('aria-busy')")
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=3000)
    page.wait_for_timeout(500)


def shoot(page: Any, path: str, out: Path, name: str) -> None:
    page.evaluate("p => { location.hash = '#' + p; }", path)
    settle(page)
    page.screenshot(path=str(out / f"{name}.png"), full_page=False)
    print(f"  {out / f'{name}.png'}")


def demo_sequence_id(server: Server) -> str:
    body = server.graphql(FIND, server.manager_token, {"q": DEMO_SEQUENCE})
    nodes = body["data"]["sequences"]["nodes"]
    return str(next(n["id"] for n in nodes if n["name"] == DEMO_SEQUENCE))


def take(server: Server, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            viewport = {"width": 1366, "height": 850}
            context = browser.new_context(base_url=server.base_url, viewport=viewport)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.goto(f"{server.base_url}/#/sign-in")
            settle(page)
            page.screenshot(path=str(out / "sign-in.png"))
            print(f"  {out / 'sign-in.png'}")
            sign_in(page, server, server.manager_token)
            sequence = demo_sequence_id(server)
            shoot(page, "/sequences", out, "sequences")
            shoot(page, f"/sequences/{sequence}", out, "designer")
            shoot(page, f"/sequences/{sequence}/insight", out, "insight")
            context.close()
            context = browser.new_context(base_url=server.base_url, viewport=viewport)
            context.set_default_timeout(TIMEOUT_MS)
            page = sign_in(context.new_page(), server, server.seller_token, "/up-next")
            shoot(page, "/up-next", out, "up-next")
            context.close()
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if (reason := missing()) is not None:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    with (
        tempfile.TemporaryDirectory() as directory,
        contextlib.closing(start_server(Path(directory))) as servers,
    ):
        server = next(servers)
        print(f"screens of {server.base_url}:")
        take(server, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
