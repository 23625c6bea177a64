"""Scope maps and the repository-scoped tokens bound to them."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.errors import ScopeMapInUse, ScopeMapUnknown
from portside.metadata.records import ScopeMapRecord, TokenRecord
from portside.metadata.registries import bump_auth_version
from portside.metadata.schema import credentials, scope_maps, tokens

__all__ = ["ScopeMapStore", "TokenStore"]


def _scope_map(row: Any) -> ScopeMapRecord:
    return ScopeMapRecord(
        id=row.id,
        registry_id=row.registry_id,
        name=row.name,
        description=row.description,
        actions=tuple(json.loads(row.actions)),
        system=bool(row.system),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        registry_id=row.registry_id,
        name=row.name,
        scope_map=row.scope_map,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_TOKENS = select(
    tokens.c.id,
    tokens.c.registry_id,
    tokens.c.name,
    scope_maps.c.name.label("scope_map"),
    tokens.c.enabled,
    tokens.c.created_at,
    tokens.c.updated_at,
).join_from(tokens, scope_maps, tokens.c.scope_map_id == scope_maps.c.id)


class ScopeMapStore:
    """Named action sets of a registry."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, registry_id: int, name: str) -> ScopeMapRecord | None:
        """One scope map, or None."""
        query = select(scope_maps).where(
            and_(scope_maps.c.registry_id == registry_id, scope_maps.c.name == name)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _scope_map(row)

    async def list(self, registry_id: int) -> builtins.list[ScopeMapRecord]:
        """The registry's scope maps, by name."""
        query = (
            select(scope_maps)
            .where(scope_maps.c.registry_id == registry_id)
            .order_by(scope_maps.c.name)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_scope_map(row) for row in rows]

    @retry_on_conflict
    async def create(
        self,
        registry_id: int,
        name: str,
        actions: Sequence[str],
        description: str = "",
        *,
        system: bool = False,
    ) -> ScopeMapRecord | None:
        """Add a scope map; None if the name is taken."""
        now = utcnow()
        async with self._db.write() as conn:
            new_id = await conn.scalar(
                insert_or_ignore(conn, scope_maps, ("registry_id", "name"))
                .values(
                    registry_id=registry_id,
                    name=name,
                    description=description,
                    actions=json.dumps(list(actions)),
                    system=system,
                    created_at=now,
                    updated_at=now,
                )
                .returning(scope_maps.c.id)
            )
        if new_id is None:
            return None
        return ScopeMapRecord(
            new_id, registry_id, name, description, tuple(actions), system, now, now
        )

    @retry_on_conflict
    async def update(
        self,
        registry_id: int,
        name: str,
        actions: Sequence[str] | None = None,
        description: str | None = None,
    ) -> ScopeMapRecord | None:
        """Replace a scope map's actions and/or description; None if there is none."""
        values: dict[str, object] = {"updated_at": utcnow()}
        if actions is not None:
            values["actions"] = json.dumps(list(actions))
        if description is not None:
            values["description"] = description
        condition = and_(scope_maps.c.registry_id == registry_id, scope_maps.c.name == name)
        async with self._db.write() as conn:
            result = await conn.execute(update(scope_maps).where(condition).values(**values))
            if not result.rowcount:
                return None
            await bump_auth_version(conn, registry_id)
            row = (await conn.execute(select(scope_maps).where(condition))).one()
        return _scope_map(row)

    @retry_on_conflict
    async def delete(self, registry_id: int, name: str) -> bool:
        """Remove a scope map; raises ScopeMapInUse while tokens use it."""
        condition = and_(scope_maps.c.registry_id == registry_id, scope_maps.c.name == name)
        async with self._db.write() as conn:
            map_id = await conn.scalar(select(scope_maps.c.id).where(condition))
            if map_id is None:
                return False
            users = await conn.scalar(
                select(func.count()).select_from(tokens).where(tokens.c.scope_map_id == map_id)
            )
            if users:
                raise ScopeMapInUse(f"scope map {name} is used by {users} token(s)")
            await conn.execute(delete(scope_maps).where(scope_maps.c.id == map_id))
            await bump_auth_version(conn, registry_id)
        return True


class TokenStore:
    """Repository-scoped tokens of a registry."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, registry_id: int, name: str) -> TokenRecord | None:
        """One token, or None."""
        query = _TOKENS.where(and_(tokens.c.registry_id == registry_id, tokens.c.name == name))
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _token(row)

    async def list(self, registry_id: int) -> builtins.list[TokenRecord]:
        """The registry's tokens, by name."""
        query = _TOKENS.where(tokens.c.registry_id == registry_id).order_by(tokens.c.name)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_token(row) for row in rows]

    @retry_on_conflict
    async def create(
        self, registry_id: int, name: str, scope_map: str, *, enabled: bool = True
    ) -> TokenRecord | None:
        """Add a token bound to an existing scope map (bumping the auth version); None if the
        name is taken.

        Raises ScopeMapUnknown if the scope map does not exist.
        """
        now = utcnow()
        async with self._db.write() as conn:
            map_id = await _scope_map_id(conn, registry_id, scope_map)
            new_id = await conn.scalar(
                insert_or_ignore(conn, tokens, ("registry_id", "name"))
                .values(
                    registry_id=registry_id,
                    name=name,
                    scope_map_id=map_id,
                    enabled=enabled,
                    created_at=now,
                    updated_at=now,
                )
                .returning(tokens.c.id)
            )
            if new_id is not None:
                await bump_auth_version(conn, registry_id)
        if new_id is None:
            return None
        return TokenRecord(new_id, registry_id, name, scope_map, enabled, now, now)

    @retry_on_conflict
    async def update(
        self,
        registry_id: int,
        name: str,
        *,
        scope_map: str | None = None,
        enabled: bool | None = None,
    ) -> TokenRecord | None:
        """Rebind a token and/or enable or disable it; None if there is none."""
        condition = and_(tokens.c.registry_id == registry_id, tokens.c.name == name)
        values: dict[str, object] = {"updated_at": utcnow()}
        if enabled is not None:
            values["enabled"] = enabled
        async with self._db.write() as conn:
            if scope_map is not None:
                values["scope_map_id"] = await _scope_map_id(conn, registry_id, scope_map)
            result = await conn.execute(update(tokens).where(condition).values(**values))
            if not result.rowcount:
                return None
            await bump_auth_version(conn, registry_id)
            row = (await conn.execute(_TOKENS.where(condition))).one()
        return _token(row)

    @retry_on_conflict
    async def delete(self, registry_id: int, name: str) -> bool:
        """Remove a token and its passwords."""
        condition = and_(tokens.c.registry_id == registry_id, tokens.c.name == name)
        async with self._db.write() as conn:
            token_id = await conn.scalar(select(tokens.c.id).where(condition))
            if token_id is None:
                return False
            await conn.execute(
                delete(credentials).where(
                    and_(
                        credentials.c.owner_type == "token", credentials.c.owner_id == str(token_id)
                    )
                )
            )
            await conn.execute(delete(tokens).where(tokens.c.id == token_id))
            await bump_auth_version(conn, registry_id)
        return True


async def _scope_map_id(conn: Any, registry_id: int, name: str) -> int:
    found = await conn.scalar(
        select(scope_maps.c.id).where(
            and_(scope_maps.c.registry_id == registry_id, scope_maps.c.name == name)
        )
    )
    if found is None:
        raise ScopeMapUnknown(f"scope map {name} does not exist")
    return int(found)
