"""Mutations of web sessions: exchange a sign-in link for a session token, sign out.

The rules are `actions/login_links.py`.
"""

from __future__ import annotations

import math
from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import login_links
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate, mutate_anonymously
from sekvens.schema.errors import user_errors
from sekvens.schema.sessions import (
    ExchangeLoginLinkInput,
    ExchangeLoginLinkPayload,
    SignOutInput,
    SignOutPayload,
)


@strawberry.type
class SessionMutations:
    @strawberry.mutation(
        description="Exchange the code of a one-time sign-in link (`sekvens user login-link`)"
        " for a session token of its user, valid 12 hours. Needs no token. A wrong, used or"
        " expired code is INVALID_VALUE at `code`, and counts as a failed authentication"
        " of the caller's address (rate limited as wrong tokens are)."
    )
    async def exchange_login_link(
        self, info: Info, input: ExchangeLoginLinkInput
    ) -> ExchangeLoginLinkPayload:
        ctx: Context = info.context
        wait = ctx.auth_failure_wait()
        if wait > 0:
            refusal = DomainError.of(
                ErrorCode.RATE_LIMITED,
                f"Too many failed sign-ins from here; retry in {max(1, math.ceil(wait))} s.",
                ["code"],
            )
            return ExchangeLoginLinkPayload(errors=user_errors(refusal))

        async def run(ctx: Context) -> dict[str, Any]:
            token, secret = await login_links.exchange_login_link(ctx.session, input.code)
            return {"token": secret, "expires_at": token.expires_at}

        payload = await mutate_anonymously(info, ExchangeLoginLinkPayload, run)
        if payload.errors:
            ctx.auth_failed()
        return payload

    @strawberry.mutation(
        description="Sign out: revoke the token this request was made with (and, with"
        " `everywhere`, every web session of yours)."
    )
    async def sign_out(self, info: Info, input: SignOutInput) -> SignOutPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            count = await login_links.sign_out(
                ctx.session, viewer, viewer.token_id, input.everywhere
            )
            return {"revoked": viewer.token_id is not None, "revoked_count": count}

        return await mutate(info, SignOutPayload, run)
