"""The Starlette app: /graphql (HTTP and graphql-transport-ws), /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
from graphql import GraphQLError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL, HTTPException, StarletteRequestAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message as WSMessage
from strawberry.types.unset import UNSET

from sekvens.config import Settings
from sekvens.domain.errors import ErrorCode
from sekvens.engine.worker import build_engine
from sekvens.graphql_schema import build_schema
from sekvens.metrics import Metrics
from sekvens.plugins.api import Clock
from sekvens.plugins.registry import Registry
from sekvens.ratelimit import RateLimits, Refusal, check_content_type, client_key
from sekvens.resolvers.context import Context, Viewer
from sekvens.schema.users import User
from sekvens.services import Services
from sekvens.storage import migrate, tokens, users
from sekvens.storage.db import Database
from sekvens.storage.types import utcnow
from sekvens.tracking_endpoints import TrackingEndpoints

log = logging.getLogger("sekvens")


def _graphql_error(status: int, code: ErrorCode, message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code.value}}]}, status
    )


class Unauthenticated(Exception):
    """A token was sent but is wrong, revoked or expired."""


class TooManyFailures(Exception):
    """The client's address failed to authenticate too often to try a new token now."""

    def __init__(self, refusal: Refusal):
        super().__init__(refusal.message)
        self.refusal = refusal


#: Nesting of JSON values in a request (body, GET parameters, websocket messages).
MAX_JSON_DEPTH = 64
REFUSED_CODES = {404: ErrorCode.NOT_FOUND}
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
#: Outside strings, valid JSON holds brackets and these; brackets become +1 and -1.
JSON_BRACKETS = str.maketrans("[]{}", "()()", ",: \t\n\r0123456789.eE+-truefalsn")
BRACKET_DEPTH = {"(": 1, ")": -1}
#: /readyz's one statement (Alembic's version table).
VERSION_QUERY = "SELECT version_num FROM alembic_version"


class MalformedJSON(json.JSONDecodeError):
    """JSON refused with a reason of its own: not UTF-8, NaN or Infinity, nested too deeply, an
    unpaired surrogate."""

    def __init__(self, reason: str):
        super().__init__(reason, "", 0)


def _no_constant(name: str) -> None:
    raise MalformedJSON(f"{name} is not JSON.")


def _is_unicode(value: Any) -> bool:
    """Whether a parsed JSON value's text can be stored (a lone \\ud800 escape cannot)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _nested_deeper(text: str, limit: int) -> bool:
    """Whether valid JSON text nests lists and objects more than `limit` levels: its brackets
    outside strings, counted in C (a walk of the parsed value costs more than parsing)."""
    brackets = JSON_STRING.sub("", text).translate(JSON_BRACKETS)
    return max(itertools.accumulate(map(BRACKET_DEPTH.__getitem__, brackets)), default=0) > limit


async def authenticate(services: Services, authorization: str | None) -> Viewer | None:
    """The viewer behind `Authorization: Bearer <token>`; None without a header.

    A token verified in the last `auth_cache_seconds` comes from the cache (no statement),
    with its user's row; a change to it or its user (revoked, deactivated, new roles, a new
    profile) drops it at once."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
    plaintext = token.strip()
    cache = services.auth_cache
    digest = tokens.hash_token(plaintext)
    entry = cache.get(digest) if cache.enabled else None
    if entry is not None:
        last_used = entry.last_used_at
        now = utcnow()
        if last_used is None or now - last_used >= tokens.TOUCH_INTERVAL:
            entry.last_used_at = now
            async with services.db.session(write=True) as session, session.begin():
                await tokens.touch(session, entry.token_id)
        viewer: Viewer = entry.value
        return viewer
    generation = cache.generation
    async with services.db.session() as session:
        found = await tokens.authenticate(session, plaintext)
        if found is None:
            raise Unauthenticated("The token is wrong, revoked or expired.")
        roles = (await users.roles_of(session, [found.user.id]))[found.user.id]
        user = User.from_row(found.user)
    last_used = found.last_used_at
    if found.needs_touch:
        last_used = utcnow()
        async with services.db.session(write=True) as session, session.begin():
            await tokens.touch(session, found.token_id)
    viewer = Viewer(
        user.pk, found.user.organization_id, frozenset(roles), found.token_id, found.scopes, user
    )
    cache.put(digest, generation, viewer, found, found.expires_at, last_used)
    return viewer


class _RequestAdapter(StarletteRequestAdapter):
    """Strawberry compares the media type as written; media types ignore case (RFC 9110)."""

    @property
    def content_type(self) -> str | None:
        value = super().content_type
        if value is None:
            return None
        media_type, sep, parameters = value.partition(";")
        return media_type.strip().lower() + sep + parameters


class _TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the rate limit: every message but `complete` draws from the
    socket's bucket (its verified token's, else its address's). Over the rate, a `subscribe`
    gets an `error` (RATE_LIMITED) and does not run; any other message closes with 4429."""

    view: GraphQLApp  # the handler class of GraphQLApp only

    async def handle_message(self, message: WSMessage) -> None:
        view = self.view
        kind = message.get("type") if isinstance(message, dict) else None
        if kind != "complete":
            ws = self.context.request
            key = ws.scope.get("state", {}).get("sekvens_rate_key") or client_key(ws)
            refusal = view.limits.take(key)
            if refusal is not None:
                view.services.metrics.refuse(refusal.status, refusal.code)
                operation_id = message.get("id") if kind == "subscribe" else None
                if isinstance(operation_id, str):
                    extensions = {"code": refusal.code.value}
                    error = GraphQLError(refusal.message, extensions=extensions)
                    await self.send_message(
                        ErrorMessage(id=operation_id, type="error", payload=[error.formatted])
                    )
                else:
                    await self.websocket.close(4429, refusal.message)
                return
        try:
            await super().handle_message(message)
        except TooManyFailures as e:
            view.services.metrics.refuse(e.refusal.status, e.refusal.code)
            await self.websocket.close(4429, e.refusal.message)


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view with sekvens' context, JSON errors for bad requests, rate limits,
    and cleanup."""

    request_adapter_class = _RequestAdapter
    graphql_transport_ws_handler_class = _TransportWSHandler

    def __init__(self, services: Services, **kwargs: Any):
        super().__init__(**kwargs)
        self.services = services
        self.limits = RateLimits(services.settings)

    def _refuse(self, refusal: Refusal) -> JSONResponse:
        """A request refused before GraphQL ran, counted in the metrics."""
        self.services.metrics.refuse(refusal.status, refusal.code)
        response = _graphql_error(refusal.status, refusal.code, refusal.message)
        response.headers.update(refusal.headers)
        return response

    async def identify(self, connection: Request | WebSocket, authorization: str | None) -> Any:
        """The viewer of `authenticate`, under the failed-authentication limit: a failure counts
        against the client address; a verified token draws from a bucket of its own."""
        if (refusal := self.limits.check_failures(connection, authorization)) is not None:
            raise TooManyFailures(refusal)
        try:
            viewer = await authenticate(self.services, authorization)
        except Unauthenticated:
            self.limits.failed(connection)
            raise
        if authorization:
            state = connection.scope.setdefault("state", {})
            state["sekvens_rate_key"] = self.limits.verified(authorization)
        return viewer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            websocket = WebSocket(scope, receive, send)
            refusal = self.limits.take(client_key(websocket))  # the connection attempt
            if refusal is not None:
                self.services.metrics.refuse(refusal.status, refusal.code)
                offered = scope.get("subprotocols") or []
                protocol = GRAPHQL_TRANSPORT_WS_PROTOCOL
                await websocket.accept(protocol if protocol in offered else None)
                await websocket.close(4429, refusal.message)
                return
        if scope["type"] != "http":
            try:
                await super().__call__(scope, receive, send)
            finally:
                ctx = scope.get("state", {}).get("sekvens_context")
                if ctx is not None:
                    # Shielded: a server cancelling the connection must not cut the session's
                    # rollback short (that strands the pooled connection).
                    with anyio.CancelScope(shield=True):
                        await ctx.close()
            return
        request = Request(scope, receive)
        authorization = request.headers.get("authorization")
        # 415 without JSON, 429 over the rate
        refusal = check_content_type(request) or self.limits.admit(request, authorization)
        if refusal is None:
            try:
                viewer = await self.identify(request, authorization)
            except Unauthenticated as e:
                refusal = Refusal(401, ErrorCode.UNAUTHENTICATED, str(e), {})
            except TooManyFailures as e:
                refusal = e.refusal
        if refusal is not None:
            await self._refuse(refusal)(scope, receive, send)
            return
        scope.setdefault("state", {})["sekvens_viewer"] = viewer
        try:
            response = await self.run(request)
        except HTTPException as e:
            code = REFUSED_CODES.get(e.status_code, ErrorCode.INVALID_VALUE)
            response = self._refuse(Refusal(e.status_code, code, e.reason, {}))
        finally:
            ctx = scope["state"].get("sekvens_context")
            if ctx is not None:
                await ctx.close(final=True)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """Strict UTF-8 JSON (no NaN or Infinity, no unpaired surrogates) nested at most
        MAX_JSON_DEPTH levels; anything else is a JSONDecodeError (the websocket handler
        closes with 4400 on one)."""
        try:
            text = data.decode() if isinstance(data, bytes) else data
            value = json.loads(text, parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise MalformedJSON("The request body is not valid UTF-8.") from None
        except RecursionError:
            raise MalformedJSON(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.") from None
        if _nested_deeper(text, MAX_JSON_DEPTH):
            raise MalformedJSON(f"JSON nested more than {MAX_JSON_DEPTH} levels deep.")
        if SURROGATE_ESCAPE.search(text) and not _is_unicode(value):
            raise MalformedJSON("JSON text holds an unpaired surrogate (\\ud800 to \\udfff).")
        return value

    def parse_json(self, data: str | bytes) -> Any:
        """A body (and GET's `variables`, `extensions`) is a JSON object or a list of them."""
        try:
            value = self.decode_json(data)
        except MalformedJSON as e:
            raise HTTPException(400, e.msg) from None
        except json.JSONDecodeError:
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not all(isinstance(v, dict) for v in (value if isinstance(value, list) else [value])):
            raise HTTPException(400, "Send a JSON object (or, batching, a list of them).")
        return value

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = request.scope.setdefault("state", {})
        ctx = Context(self.services, state.get("sekvens_viewer"), request, response)
        failures = self.limits.failures
        if failures.enabled:
            ctx.auth_failure_wait = lambda: failures.wait(client_key(request))
            ctx.auth_failed = lambda: self.limits.failed(request)
        state["sekvens_context"] = ctx
        return ctx

    async def on_ws_connect(self, context: Context) -> Any:
        """Websocket clients authenticate in connection_init: {"authorization": "Bearer ..."};
        without a token, or with a wrong one, the socket is closed (4403)."""
        params = context.connection_params or {}
        auth = params.get("authorization") or params.get("Authorization")
        try:
            viewer = await self.identify(context.request, auth if isinstance(auth, str) else None)
        except Unauthenticated:
            raise ConnectionRejectionError from None  # closes with 4403
        if viewer is None:  # no token: it could run nothing, so parse nothing
            raise ConnectionRejectionError
        # A socket outlives a cache entry: its operations read the user when they need it.
        context.viewer_or_none = dataclasses.replace(viewer, user=None)
        return UNSET


class BodyLimit:
    """Refuses request bodies over `limit` bytes with HTTP 413, also when streamed."""

    def __init__(self, app: ASGIApp, limit: int, metrics: Metrics):
        self.app = app
        self.limit = limit
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.refuse(413, ErrorCode.TOO_LONG)
        response = _graphql_error(
            413, ErrorCode.TOO_LONG, f"Request body is over {self.limit} bytes."
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def web_app_route() -> Mount:
    """The reference web app (docs/web-app.md): static ES modules at `/`."""
    return Mount("/", StaticFiles(packages=[("sekvens", "webapp")], html=True), name="web-app")


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    registry: Registry | None = None,
    clock: Clock | None = None,
    worker: bool = False,
) -> Starlette:
    """The app. With `worker`, one engine worker runs in-process while the app runs."""
    settings = settings or Settings.from_env()
    db = db or Database(settings)
    engine, tracker = build_engine(settings, db, registry, clock)
    auth_cache: tokens.AuthCache[Viewer] = tokens.AuthCache(
        settings.auth_cache_seconds, is_sqlite=db.is_sqlite
    )
    auth_cache.listening = lambda: engine.bus.listening  # PostgreSQL: drops from others
    engine.bus.auth_listeners.append(auth_cache.drop)
    services = Services(
        settings=settings,
        db=db,
        metrics=Metrics(),
        registry=engine.runner.registry,
        engine=engine,
        auth_cache=auth_cache,
    )
    graphql = GraphQLApp(
        services,
        schema=build_schema(production=settings.is_production, settings=settings),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        graphql_ide=None if settings.is_production else "graphiql",
        allow_queries_via_get=True,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    head: list[str | None] = []  # the newest migration, read from the scripts once

    async def readyz(_: Request) -> Response:
        """One statement: the database answers and is at this version's newest migration."""
        try:
            if not head:
                head.append(migrate.head_revision())
            try:
                async with db.engine.connect() as conn:
                    found: list[str | None] = list(
                        (await conn.execute(text(VERSION_QUERY))).scalars()
                    )
                migrated = found == head
            except DBAPIError:  # no version table, or the database is down: ask Alembic
                migrated = await migrate.is_up_to_date(db.engine)
        except Exception as e:  # a database that is down is the answer, not a crash
            log.warning("readiness check failed: %s", e)
            return JSONResponse({"ready": False, "database": "unreachable"}, 503)
        if not migrated:
            return JSONResponse({"ready": False, "database": "not migrated"}, 503)
        return JSONResponse({"ready": True})

    async def metrics(_: Request) -> Response:
        return Response(services.metrics.render(), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        tracker.check()  # a missing SEKVENS_SECRET_KEY in production stops startup here
        if settings.migrate_on_start:
            await migrate.upgrade(db.engine)
        await engine.bus.start()  # PostgreSQL: LISTEN for other processes' changes
        stop = asyncio.Event()
        task = asyncio.create_task(engine.serve(stop)) if worker else None
        if settings.gc_freeze:
            # What start-up built (schema, plugins, SQLAlchemy's mappers and caches) lives as
            # long as the process: out of the collector's way, full collections stay cheap.
            gc.collect()
            gc.freeze()
        yield
        stop.set()
        if task is not None:
            await task
        await engine.bus.stop()
        await db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *TrackingEndpoints(tracker, db, engine).routes(),
            *([web_app_route()] if settings.web_app else []),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, metrics=services.metrics)
    if settings.cors_origins:  # SPAs on other origins; bearer tokens, so no credentials
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app
