"""Who may do what with sequences and tags (the product's rules, as pure functions)."""

from __future__ import annotations

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import Role, describe

ORG_SEQUENCE_EDITORS = frozenset(
    {Role.SYSTEM_ADMINISTRATOR, Role.SEQUENCE_MANAGER, Role.SALES_MANAGER}
)
#: Edit and delete anyone's personal sequences; create and edit tags; export and import.
SEQUENCE_ADMINS = frozenset({Role.SYSTEM_ADMINISTRATOR, Role.SEQUENCE_MANAGER})


def check_create(roles: frozenset[Role], is_personal: bool) -> None:
    """Organization sequences need an editor role; anyone may create a personal one."""
    if not is_personal and not roles & ORG_SEQUENCE_EDITORS:
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            f"Creating an organization sequence needs the role {describe(ORG_SEQUENCE_EDITORS)};"
            " a salesperson can create a personal sequence (isPersonal: true).",
        )


def may_edit(
    roles: frozenset[Role], user_id: int, is_personal: bool, owner_user_id: int | None
) -> bool:
    if is_personal:
        return owner_user_id == user_id or bool(roles & SEQUENCE_ADMINS)
    return bool(roles & ORG_SEQUENCE_EDITORS)


def check_edit(
    roles: frozenset[Role], user_id: int, is_personal: bool, owner_user_id: int | None
) -> None:
    """Design, properties, activation, tags applied and deletion all follow this rule."""
    if may_edit(roles, user_id, is_personal, owner_user_id):
        return
    needed = SEQUENCE_ADMINS if is_personal else ORG_SEQUENCE_EDITORS
    whose = "another user's personal sequence" if is_personal else "an organization sequence"
    raise DomainError.of(
        ErrorCode.FORBIDDEN, f"Changing {whose} needs the role {describe(needed)}."
    )


def check_tag_admin(roles: frozenset[Role]) -> None:
    if not roles & SEQUENCE_ADMINS:
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            f"Creating and editing tags needs the role {describe(SEQUENCE_ADMINS)}.",
        )
