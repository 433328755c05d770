"""The Starlette app: /graphql (HTTP and graphql-transport-ws), /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL, HTTPException
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from sekvens.config import Settings
from sekvens.domain.errors import ErrorCode
from sekvens.engine.tracking import TrackingEndpoints
from sekvens.engine.worker import Engine, build_engine
from sekvens.metrics import Metrics
from sekvens.plugins.api import Clock
from sekvens.plugins.registry import Registry
from sekvens.ratelimit import RateLimiter, check_request
from sekvens.resolvers.context import Context, Viewer
from sekvens.schema.assembly import build_schema
from sekvens.storage import migrate, tokens, users
from sekvens.storage.db import Database

log = logging.getLogger("sekvens")


@dataclass
class Services:
    """What every request shares: settings, database, metrics."""

    settings: Settings
    db: Database
    metrics: Metrics
    registry: Registry
    engine: Engine


def _graphql_error(status: int, code: ErrorCode, message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code.value}}]}, status
    )


class Unauthenticated(Exception):
    """A token was sent but is wrong, revoked or expired."""


async def authenticate(services: Services, authorization: str | None) -> Viewer | None:
    """The viewer behind `Authorization: Bearer <token>`; None without a header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
    async with services.db.session() as session:
        found = await tokens.authenticate(session, token.strip())
        if found is None:
            raise Unauthenticated("The token is wrong, revoked or expired.")
        roles = (await users.roles_of(session, [found.user.id]))[found.user.id]
    if found.needs_touch:
        async with services.db.session(write=True) as session, session.begin():
            await tokens.touch(session, found.token_id)
    return Viewer(found.user.id, found.user.organization_id, frozenset(roles), found.token_id)


class GraphQLApp(GraphQL):
    """Strawberry's ASGI view with sekvens' context, JSON errors for bad requests, and cleanup."""

    def __init__(self, services: Services, **kwargs: Any):
        super().__init__(**kwargs)
        self.services = services
        limits = services.settings
        self.rate_limiter = RateLimiter(limits.rate_limit_per_second, limits.rate_limit_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        refusal = check_request(request, self.rate_limiter)  # 415 without JSON, 429 over the rate
        if refusal is not None:
            response = _graphql_error(refusal.status, refusal.code, refusal.message)
            response.headers.update(refusal.headers)
            await response(scope, receive, send)
            return
        try:
            viewer = await authenticate(self.services, request.headers.get("authorization"))
        except Unauthenticated as e:
            await _graphql_error(401, ErrorCode.UNAUTHENTICATED, str(e))(scope, receive, send)
            return
        scope.setdefault("state", {})["sekvens_viewer"] = viewer
        try:
            response = await self.run(request)
        except HTTPException as e:
            response = _graphql_error(e.status_code, ErrorCode.INVALID_VALUE, e.reason)
        finally:
            ctx = scope["state"].get("sekvens_context")
            if ctx is not None:
                await ctx.close(final=True)
        await response(scope, receive, send)

    def parse_json(self, data: str | bytes) -> Any:
        """A body (and GET's `variables`, `extensions`) is a JSON object or a list of them."""
        value = super().parse_json(data)
        if not all(isinstance(v, dict) for v in (value if isinstance(value, list) else [value])):
            raise HTTPException(400, "Send a JSON object (or, batching, a list of them).")
        return value

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = request.scope.setdefault("state", {})
        ctx = Context(self.services, state.get("sekvens_viewer"), request, response)
        if isinstance(request, WebSocket):
            # Strawberry hands the connection_init payload only to a context with this attribute.
            ctx.connection_params = None  # type: ignore[attr-defined]
        state["sekvens_context"] = ctx
        return ctx

    async def on_ws_connect(self, context: Context) -> Any:
        """Websocket clients authenticate in connection_init: {"authorization": "Bearer ..."}."""
        params = getattr(context, "connection_params", None) or {}
        auth = params.get("authorization") or params.get("Authorization")
        try:
            context.viewer_or_none = await authenticate(
                self.services, auth if isinstance(auth, str) else None
            )
        except Unauthenticated:
            raise ConnectionRejectionError from None  # closes with 4403
        return UNSET


class BodyLimit:
    """Refuses request bodies over `limit` bytes with HTTP 413, also when streamed."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

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
        response = _graphql_error(
            413, ErrorCode.TOO_LONG, f"Request body is over {self.limit} bytes."
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


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
    services = Services(
        settings=settings, db=db, metrics=Metrics(), registry=engine.runner.registry, engine=engine
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

    async def readyz(_: Request) -> Response:
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
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
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:  # SPAs on other origins; bearer tokens, so no credentials
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app
