"""The tracking endpoints: the open pixel, click redirects and one-click unsubscribe.

The click endpoint redirects only when the token's mac is right *and* the URL is one of the
links of the stored message, so it is never an open redirect; anything else is 404. Tokens
are checked by `engine/link_signing.py`; what a hit does is `engine/tracking_hits.py`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from sekvens.engine.link_signing import CLICK, OPEN, UNSUBSCRIBE, LinkSigner, is_web
from sekvens.engine.tracking_hits import record_hit, unsubscribe
from sekvens.engine.worker import Engine
from sekvens.storage.db import Database

#: The classic 43-byte transparent 1x1 GIF.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, private",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
}


class TrackingEndpoints:
    """GET /t/o/{token}.gif, GET /t/c/{token}, and /t/u/{token}: GET shows a button, POST
    (the button, or a mail client's one-click request) unsubscribes."""

    def __init__(self, signer: LinkSigner, db: Database, engine: Engine):
        self.signer, self.db, self.engine = signer, db, engine

    def routes(self) -> list[Route]:
        return [
            Route("/t/o/{token}.gif", self.opened, methods=["GET"]),
            Route("/t/c/{token}", self.clicked, methods=["GET"]),
            Route("/t/u/{token}", self.unsubscribe, methods=["GET", "POST"]),
        ]

    async def unsubscribe(self, request: Request) -> Response:
        """Link scanners fetch every link, so GET only asks; POST suppresses the address and
        ends the record's running connections (UNSUBSCRIBED)."""
        found = self.signer.verify(UNSUBSCRIBE, request.path_params["token"])
        if found is None:
            return _not_found()
        if request.method == "GET":
            return HTMLResponse(_UNSUBSCRIBE_FORM, headers=NO_CACHE)
        if not await unsubscribe(self.db, self.engine, found[0]):
            return _not_found()
        return HTMLResponse(_UNSUBSCRIBED, headers=NO_CACHE)

    async def opened(self, request: Request) -> Response:
        found = self.signer.verify(OPEN, request.path_params["token"])
        if found is None or not await record_hit(self.db, self.engine, found[0], OPEN, ""):
            return _not_found()
        return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)

    async def clicked(self, request: Request) -> Response:
        found = self.signer.verify(CLICK, request.path_params["token"])
        if found is None or not is_web(found[1]):
            return _not_found()
        message_pk, url = found
        if not await record_hit(self.db, self.engine, message_pk, CLICK, url):
            return _not_found()
        return RedirectResponse(url, 302, headers=NO_CACHE)


_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width"><title>Unsubscribe</title></head>'
    '<body style="font-family:sans-serif;max-width:32em;margin:4em auto">{}</body></html>'
)
_UNSUBSCRIBE_FORM = _PAGE.format(
    "<h1>Unsubscribe</h1><p>Stop receiving these emails?</p>"
    '<form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">'
    "Unsubscribe</button></form>"
)
_UNSUBSCRIBED = _PAGE.format("<h1>Unsubscribed</h1><p>You will not get these emails again.</p>")


def _not_found() -> Response:
    return PlainTextResponse("Not found", 404, headers=NO_CACHE)
