"""Users and their roles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode, Problem, ProblemList
from sekvens.domain.records import EMAIL_RE
from sekvens.domain.roles import Role
from sekvens.domain.working_hours import (
    DEFAULT_WORKING_HOURS,
    check_time_zone,
    check_working_hours,
)
from sekvens.storage.tables import Organization, User, UserRole

NAME_MAX = 160
#: The longest email address (RFC 5321's path limit, less the angle brackets).
EMAIL_MAX = 254


def parse_roles(names: Iterable[str], path: tuple[str, ...] = ("roles",)) -> set[Role]:
    roles, problems = set(), []
    for i, name in enumerate(names):
        try:
            roles.add(Role(name))
        except ValueError:
            valid = ", ".join(r.value for r in Role)
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_ROLE, f"No role '{name}'. Roles: {valid}.", (*path, str(i))
                )
            )
    if problems:
        raise DomainError(problems)
    return roles


def _check_profile(
    problems: ProblemList,
    name: str | None,
    time_zone: str | None,
    working_hours: Sequence[dict[str, Any]] | None,
) -> None:
    if name is not None:
        if not name.strip():
            problems.add(ErrorCode.REQUIRED, "A user needs a name.", ["name"])
        elif len(name) > NAME_MAX:
            problems.add(ErrorCode.TOO_LONG, f"Name is over {NAME_MAX} characters.", ["name"])
    if time_zone is not None and (p := check_time_zone(time_zone, ("timeZone",))):
        problems.problems.append(p)
    if working_hours is not None:
        problems.problems.extend(check_working_hours(working_hours))


async def create_user(
    session: AsyncSession,
    org: Organization,
    email: str,
    name: str,
    roles: Iterable[str],
    time_zone: str | None = None,
    working_hours: Sequence[dict[str, Any]] | None = None,
) -> User:
    email = email.strip().lower()
    problems = ProblemList()
    if len(email) > EMAIL_MAX:
        problems.add(ErrorCode.TOO_LONG, f"An email is at most {EMAIL_MAX} characters.", ["email"])
    elif not EMAIL_RE.match(email):
        problems.add(ErrorCode.INVALID_VALUE, f"'{email}' is not an email address.", ["email"])
    _check_profile(problems, name, time_zone, working_hours)
    problems.raise_if_any()
    parsed = parse_roles(roles)
    if await get_by_email(session, org.id, email):
        raise DomainError.of(ErrorCode.DUPLICATE, f"A user with email {email} exists.", ["email"])
    user = User(
        organization_id=org.id,
        email=email,
        name=name.strip(),
        time_zone=time_zone or org.default_time_zone,
        working_hours=list(working_hours if working_hours is not None else DEFAULT_WORKING_HOURS),
    )
    session.add(user)
    await session.flush()
    session.add_all(UserRole(user_id=user.id, role=r.value) for r in parsed)
    return user


async def update_user(
    session: AsyncSession,
    user: User,
    name: str | None = None,
    time_zone: str | None = None,
    working_hours: Sequence[dict[str, Any]] | None = None,
    is_active: bool | None = None,
) -> User:
    problems = ProblemList()
    _check_profile(problems, name, time_zone, working_hours)
    problems.raise_if_any()
    if name is not None:
        user.name = name.strip()
    if time_zone is not None:
        user.time_zone = time_zone
    if working_hours is not None:
        user.working_hours = list(working_hours)
    if is_active is not None:
        user.is_active = is_active
    await session.flush()
    return user


async def set_roles(session: AsyncSession, user: User, roles: Iterable[str]) -> set[Role]:
    parsed = parse_roles(roles)
    await session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    session.add_all(UserRole(user_id=user.id, role=r.value) for r in parsed)
    await session.flush()
    return parsed


async def get_by_email(session: AsyncSession, organization_id: int, email: str) -> User | None:
    return await session.scalar(
        select(User).where(
            User.organization_id == organization_id, User.email == email.strip().lower()
        )
    )


async def get_all_by_email(session: AsyncSession, email: str) -> list[User]:
    """The users of every organization with this address."""
    rows = await session.scalars(
        select(User).where(User.email == email.strip().lower()).order_by(User.id)
    )
    return list(rows)


async def roles_of(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, set[Role]]:
    ids = list(set(user_ids))
    out: dict[int, set[Role]] = defaultdict(set)
    if ids:
        for user_id, role in await session.execute(
            select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(ids))
        ):
            out[user_id].add(Role(role))
    return out


async def count_admins(session: AsyncSession, organization_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(UserRole)
            .join(User, User.id == UserRole.user_id)
            .where(
                User.organization_id == organization_id,
                User.is_active.is_(True),
                UserRole.role == Role.SYSTEM_ADMINISTRATOR.value,
            )
        )
        or 0
    )
