"""The reference web app is served at `/` beside the API (docs/web-app.md), and not at all
with SEKVENS_WEB_APP off; it ships in the package (no Node.js needed to run it)."""

from __future__ import annotations

import re
from importlib import resources

import httpx

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage.db import Database


async def get(app: object, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://sekvens.test") as client:
        return await client.get(path)


async def test_the_app_is_served_at_the_root_beside_the_api(db: Database) -> None:
    app = create_app(db.settings, db)
    page = await get(app, "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'src="([^"]+\.js)"', page.text)
    assert scripts == ["app.js"]
    for module in ("app.js", "api.js", "ui.js", "signin.js"):
        answer = await get(app, f"/{module}")
        assert answer.status_code == 200, module
        assert answer.headers["content-type"].startswith("text/javascript")
    assert (await get(app, "/healthz")).text == "ok"
    assert (await get(app, "/no-such-file.js")).status_code == 404


async def test_off_it_is_not_served(db: Database) -> None:
    settings = Settings(database_url=db.settings.database_url, web_app=False)
    assert (await get(create_app(settings, db), "/")).status_code == 404
    assert (
        Settings.from_env({"SEKVENS_ENV": "production", "SEKVENS_SECRET_KEY": "x" * 40}).web_app
        is False
    )
    assert Settings.from_env({}).web_app is True


def test_every_module_the_app_imports_ships_in_the_package() -> None:
    files = resources.files("sekvens") / "webapp"
    shipped = {f.name for f in files.iterdir()}
    for name in shipped:
        if name.endswith(".js"):
            text = (files / name).read_text()
            for imported in re.findall(r'(?:from|import)\s*\(?\s*"\./([^"]+)"', text):
                assert imported in shipped, f"{name} imports {imported}, which is not shipped"
