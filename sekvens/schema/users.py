"""Users, roles, API tokens, teams and team members."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from sekvens.domain.away import AwayPeriod as DomainAwayPeriod
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.domain.scopes import Scope
from sekvens.schema.enums import ApiTokenScope, Role, TeamKind
from sekvens.schema.errors import UserError
from sekvens.schema.relay import Node, to_global_id
from sekvens.schema.sender_identity import SenderIdentity
from sekvens.storage.tables import ApiToken as TokenRow
from sekvens.storage.tables import Team as TeamRow
from sekvens.storage.tables import User as UserRow
from sekvens.storage.tokens import scopes_of


@strawberry.type(description="A weekday's working hours, in the user's time zone.")
class WorkingHours:
    weekday: int = strawberry.field(description="ISO weekday: 1 is Monday, 7 is Sunday.")
    start: str = strawberry.field(description="HH:MM")
    end: str = strawberry.field(description="HH:MM")


@strawberry.input
class WorkingHoursInput:
    weekday: int
    start: str
    end: str


@strawberry.type(
    description="A user's away period [from, until): their due activities go to the delegate"
    " or wait (the organization's awayPolicy), their automated emails wait until they are back."
)
class AwayPeriod:
    from_: datetime = strawberry.field(name="from")
    until: datetime
    delegate_pk: strawberry.Private[int | None]

    @strawberry.field(description="Who works their activities meanwhile (DELEGATE policy).")
    async def delegate(self, info: Info) -> User | None:
        if self.delegate_pk is None:
            return None
        row = await info.context.loaders.user.load(self.delegate_pk)
        return User.from_row(row) if row is not None else None


@strawberry.type
class User(Node):
    pk: strawberry.Private[int]
    email: str
    name: str
    time_zone: str
    working_hours: list[WorkingHours]
    is_active: bool
    created_at: datetime
    sender_identity: SenderIdentity = strawberry.field(
        description="The user's own sender identity (address: their email); the"
        " organization's defaultSenderIdentity fills the parts not set."
    )

    #: The stored away period (`away`, `isAway`).
    period: strawberry.Private[DomainAwayPeriod | None] = None

    @strawberry.field(
        description="Their away period, while it is set and not over; null when none."
    )
    def away(self, info: Info) -> AwayPeriod | None:
        now = info.context.services.engine.clock.now()
        if self.period is None or self.period.ends <= now:
            return None
        p = self.period
        return AwayPeriod(from_=p.starts, until=p.ends, delegate_pk=p.delegate_id)

    @strawberry.field(description="Whether they are away now.")
    def is_away(self, info: Info) -> bool:
        return self.period is not None and self.period.covers(
            info.context.services.engine.clock.now()
        )

    @strawberry.field
    async def roles(self, info: Info) -> list[Role]:
        return await info.context.loaders.roles.load(self.pk)

    @strawberry.field(description="The teams this user is a member of.")
    async def teams(self, info: Info) -> list[TeamMembership]:
        members = await info.context.loaders.memberships.load(self.pk)
        teams = await info.context.loaders.team.load_many([m.team_id for m in members])
        return [
            TeamMembership(team=Team.from_row(t), team_role=m.team_role)
            for m, t in zip(members, teams, strict=True)
            if t is not None
        ]

    @strawberry.field(
        description="Their API tokens with scopes and last use, newest first, revoked ones"
        " included: for the user themselves and administrators; null for anyone else."
    )
    async def api_tokens(self, info: Info) -> list[ApiToken] | None:
        viewer = info.context.viewer
        if viewer.user_id != self.pk and not viewer.has_any(ADMINISTRATORS):
            return None
        rows = await info.context.loaders.api_tokens.load(self.pk)
        return [ApiToken.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        return cls(
            id=strawberry.ID(to_global_id("User", row.id)),
            pk=row.id,
            email=row.email,
            name=row.name,
            time_zone=row.time_zone,
            working_hours=[WorkingHours(**h) for h in row.working_hours],
            is_active=row.is_active,
            created_at=row.created_at,
            period=DomainAwayPeriod.of(row.away_from, row.away_until, row.away_delegate_id),
            sender_identity=SenderIdentity(
                name=row.sender_name,
                address=row.email,
                reply_to=row.reply_to,
                signature=row.signature,
            ),
        )


@strawberry.type
class Team(Node):
    pk: strawberry.Private[int]
    name: str
    kind: TeamKind
    description: str
    created_at: datetime

    @strawberry.field
    async def members(self, info: Info) -> list[TeamMember]:
        members = await info.context.loaders.team_members.load(self.pk)
        users = await info.context.loaders.user.load_many([m.user_id for m in members])
        return [
            TeamMember(user=User.from_row(u), team_role=m.team_role)
            for m, u in zip(members, users, strict=True)
            if u is not None
        ]

    @classmethod
    def from_row(cls, row: TeamRow) -> Team:
        return cls(
            id=strawberry.ID(to_global_id("Team", row.id)),
            pk=row.id,
            name=row.name,
            kind=TeamKind(row.kind),
            description=row.description,
            created_at=row.created_at,
        )


@strawberry.type
class TeamMember:
    user: User
    team_role: str | None = strawberry.field(description='For example "Account manager".')


@strawberry.type
class TeamMembership:
    team: Team
    team_role: str | None


@strawberry.type(description="An API token. Its secret is shown once, when it is created.")
class ApiToken(Node):
    name: str
    prefix: str = strawberry.field(description="The first characters, to recognize it.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    scopes: list[ApiTokenScope]

    @classmethod
    def from_row(cls, row: TokenRow) -> ApiToken:
        return cls(
            id=strawberry.ID(to_global_id("ApiToken", row.id)),
            name=row.name,
            prefix=row.prefix,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            scopes=[s for s in Scope if s in scopes_of(row)],
        )


# Inputs and payloads


@strawberry.input
class CreateUserInput:
    email: str
    name: str
    roles: list[str] = strawberry.field(description="Role names, e.g. SALESPERSON.")
    time_zone: str | None = None
    working_hours: list[WorkingHoursInput] | None = None


@strawberry.input
class UpdateUserInput:
    user_id: strawberry.ID
    name: str | None = None
    time_zone: str | None = None
    working_hours: list[WorkingHoursInput] | None = None
    is_active: bool | None = None
    sender_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Display name of automated emails; omit to keep, null or empty to clear.",
    )
    reply_to: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Reply-To address of automated emails; omit to keep, null or empty to clear.",
    )
    signature: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Plain-text signature ({{ sender.signature }}); omit to keep, null or empty"
        " to clear.",
    )


@strawberry.input
class SetUserRolesInput:
    user_id: strawberry.ID
    roles: list[str]


@strawberry.type
class UserPayload:
    errors: list[UserError]
    user: User | None = None


@strawberry.input
class CreateApiTokenInput:
    name: str = "api"
    user_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Administrators may create tokens for others; default: the viewer.",
    )
    expires_at: datetime | None = None
    scopes: list[ApiTokenScope] = strawberry.field(
        default_factory=lambda: [Scope.FULL],
        description="What the token may do (default FULL); give integrations only what they need.",
    )


@strawberry.type
class CreateApiTokenPayload:
    errors: list[UserError]
    token: ApiToken | None = None
    secret: str | None = strawberry.field(default=None, description="Shown only this once.")


@strawberry.input
class RevokeApiTokenInput:
    token_id: strawberry.ID


@strawberry.type
class RevokeApiTokenPayload:
    errors: list[UserError]
    token: ApiToken | None = None


@strawberry.input
class CreateTeamInput:
    name: str
    kind: TeamKind
    description: str = ""


@strawberry.input
class UpdateTeamInput:
    team_id: strawberry.ID
    name: str | None = None
    description: str | None = None


@strawberry.input
class DeleteTeamInput:
    team_id: strawberry.ID


@strawberry.input
class SetTeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID
    team_role: str | None = None


@strawberry.input
class RemoveTeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.type
class TeamPayload:
    errors: list[UserError]
    team: Team | None = None


@strawberry.type
class DeleteTeamPayload:
    errors: list[UserError]
    deleted_team_id: strawberry.ID | None = None
