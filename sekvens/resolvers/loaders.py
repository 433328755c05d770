"""Per-request DataLoaders: each relation is fetched in one statement per batch, org-scoped."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ScalarResult, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from sekvens.domain.roles import Role
from sekvens.domain.tags import TagTree
from sekvens.storage import tags as tag_store
from sekvens.storage.tables import (
    ApiToken,
    RecordField,
    RecordType,
    Team,
    TeamMember,
    User,
    UserRole,
)


class Loaders:
    """The loaders of one request. Rows of another organization are never returned."""

    def __init__(self, session: AsyncSession, organization_id: int):
        self._session = session
        self._org = organization_id
        self.user = self._by_id(User)
        self.team = self._by_id(Team)
        self.record_type = self._by_id(RecordType)
        self.api_token = self._by_id(ApiToken)
        self.roles = DataLoader(self._load_roles)
        self.team_members = self._grouped(TeamMember, TeamMember.team_id, TeamMember.user_id)
        self.memberships = self._grouped(TeamMember, TeamMember.user_id, TeamMember.team_id)
        self.api_tokens = self._grouped(ApiToken, ApiToken.user_id, ApiToken.id.desc())
        self.record_fields = self._grouped(
            RecordField, RecordField.record_type_id, RecordField.position
        )
        self.tag_tree = DataLoader(self._load_tag_trees)

    def _by_id(self, model: type[Any]) -> DataLoader[int, Any]:
        async def load(ids: Sequence[int]) -> list[Any]:
            rows: ScalarResult[Any] = await self._session.scalars(
                select(model).where(model.id.in_(ids), model.organization_id == self._org)
            )
            found = {r.id: r for r in rows}
            return [found.get(i) for i in ids]

        return DataLoader(load)

    def _grouped(self, model: type[Any], key: Any, order: Any) -> DataLoader[int, list[Any]]:
        # Keys are ids of org-scoped parents that the caller already loaded through
        # an org-scoped path, so the children need no organization filter of their own.
        async def load(ids: Sequence[int]) -> list[list[Any]]:
            groups: dict[int, list[Any]] = defaultdict(list)
            rows: ScalarResult[Any] = await self._session.scalars(
                select(model).where(key.in_(ids)).order_by(order)
            )
            for row in rows:
                groups[getattr(row, key.key)].append(row)
            return [groups.get(i, []) for i in ids]

        return DataLoader(load)

    async def _load_roles(self, ids: Sequence[int]) -> list[list[Role]]:
        groups: dict[int, list[Role]] = defaultdict(list)
        rows = await self._session.execute(
            select(UserRole.user_id, UserRole.role)
            .where(UserRole.user_id.in_(ids))
            .order_by(UserRole.role)
        )
        for user_id, role in rows:
            groups[user_id].append(Role(role))
        return [groups.get(i, []) for i in ids]

    async def _load_tag_trees(self, organization_ids: Sequence[int]) -> list[TagTree]:
        return [await tag_store.tree(self._session, org) for org in organization_ids]

    def prime(self, loader: DataLoader[int, Any], rows: Sequence[Any]) -> None:
        for row in rows:
            loader.prime(row.id, row)
