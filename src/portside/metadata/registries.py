"""Registries (tenants): creation, lookup on every request, settings, deletion."""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.records import RegistryQuotas, RegistryRecord
from portside.metadata.schema import credentials, registries, repositories, tokens

__all__ = [
    "QUOTA_COLUMNS",
    "RATE_COLUMNS",
    "SETTABLE",
    "RegistryStore",
    "bump_all_auth_versions",
    "bump_auth_version",
    "new_uid",
]

# Quota overrides (None: the SKU's default), by quota name (metadata/usage.py).
QUOTA_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "storage_bytes": "quota_storage_bytes",
        "repositories": "quota_repositories",
        "tokens": "quota_tokens",
        "scope_maps": "quota_scope_maps",
        "webhooks": "quota_webhooks",
    }
)

# Request rate limit overrides (None: the SKU's default; 0: unlimited).
RATE_COLUMNS = frozenset({"read_ops_per_minute", "write_ops_per_minute"})

# What `update` may change.
SETTABLE = frozenset(
    {
        "sku",
        "admin_enabled",
        "anonymous_pull",
        "immutable_tags",
        *QUOTA_COLUMNS.values(),
        *RATE_COLUMNS,
    }
)

_COLUMNS = (
    registries.c.id,
    registries.c.name,
    registries.c.uid,
    registries.c.sku,
    registries.c.admin_enabled,
    registries.c.anonymous_pull,
    registries.c.immutable_tags,
    registries.c.auth_version,
    registries.c.created_at,
    registries.c.storage_bytes,
    registries.c.login_slot,
    *(registries.c[column] for column in QUOTA_COLUMNS.values()),
    registries.c.read_ops_per_minute,
    registries.c.write_ops_per_minute,
)
# Run on every request (the access step resolves the registry by its host): built once.
_BY_NAME = select(*_COLUMNS).where(registries.c.name == bindparam("name"))
_BY_SLOT = select(*_COLUMNS).where(registries.c.login_slot == bindparam("slot"))
_SLOTS_TAKEN = (
    select(registries.c.login_slot)
    .where(registries.c.login_slot.is_not(None))
    .order_by(registries.c.login_slot)
)


def _record(row: Any) -> RegistryRecord:
    return RegistryRecord(
        id=row.id,
        name=row.name,
        sku=row.sku,
        admin_enabled=bool(row.admin_enabled),
        anonymous_pull=bool(row.anonymous_pull),
        immutable_tags=bool(row.immutable_tags),
        auth_version=int(row.auth_version),
        created_at=row.created_at,
        storage_bytes=int(row.storage_bytes),
        login_slot=row.login_slot,
        quotas=RegistryQuotas(
            **{quota: getattr(row, column) for quota, column in QUOTA_COLUMNS.items()}
        ),
        uid=row.uid,
        read_ops_per_minute=row.read_ops_per_minute,
        write_ops_per_minute=row.write_ops_per_minute,
    )


class RegistryStore:
    """The registries of a deployment."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> RegistryRecord | None:
        """The registry called `name`, or None."""
        async with self._db.read() as conn:
            row = (await conn.execute(_BY_NAME, {"name": name})).first()
        return None if row is None else _record(row)

    async def by_login_slot(self, slot: int) -> RegistryRecord | None:
        """The registry holding login slot `slot`, or None."""
        async with self._db.read() as conn:
            row = (await conn.execute(_BY_SLOT, {"slot": slot})).first()
        return None if row is None else _record(row)

    async def list(self) -> builtins.list[RegistryRecord]:
        """Every registry, by name."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(*_COLUMNS).order_by(registries.c.name))).all()
        return [_record(row) for row in rows]

    async def anonymous_repositories(self, registry_id: int, names: Iterable[str]) -> set[str]:
        """Which of `names` are repositories of the registry open to anonymous pull."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return set()
        query = select(repositories.c.name).where(
            repositories.c.registry_id == registry_id,
            repositories.c.name.in_(wanted),
            repositories.c.anonymous_pull.is_(True),
        )
        async with self._db.read() as conn:
            return set((await conn.scalars(query)).all())

    async def all_anonymous_repositories(self, registry_id: int) -> set[str]:
        """Every repository of the registry open to anonymous pull (what an anonymous catalog
        shows)."""
        query = select(repositories.c.name).where(
            repositories.c.registry_id == registry_id, repositories.c.anonymous_pull.is_(True)
        )
        async with self._db.read() as conn:
            return set((await conn.scalars(query)).all())

    @retry_on_conflict
    async def set_repository_anonymous_pull(
        self, registry_id: int, name: str, enabled: bool
    ) -> bool:
        """Open or close one repository to anonymous pull; False if it does not exist."""
        async with self._db.write() as conn:
            result = await conn.execute(
                update(repositories)
                .where(repositories.c.registry_id == registry_id, repositories.c.name == name)
                .values(anonymous_pull=enabled)
            )
            if result.rowcount:
                await bump_auth_version(conn, registry_id)
        return result.rowcount > 0

    @retry_on_conflict
    async def create(
        self, name: str, *, login_slot: bool = False, **settings: object
    ) -> RegistryRecord | None:
        """Create a registry, with the lowest free login slot if `login_slot`; None if one
        with that name exists already."""
        _check(settings)
        async with self._db.write() as conn:
            # Two creators may pick the same slot; the loser fails on its unique key and the
            # retry picks again.
            slot = await _free_slot(conn) if login_slot else None
            new_id = await conn.scalar(
                insert_or_ignore(conn, registries, ("name",))
                .values(name=name, uid=new_uid(), created_at=utcnow(), login_slot=slot, **settings)
                .returning(registries.c.id)
            )
            if new_id is None:
                return None
            row = (await conn.execute(_BY_NAME, {"name": name})).one()
        return _record(row)

    @retry_on_conflict
    async def ensure(self, name: str) -> tuple[RegistryRecord, bool]:
        """The registry called `name`, created if missing; True if this call created it."""
        found = await self.get(name)
        if found is not None:
            return found, False
        created = await self.create(name)
        if created is not None:
            return created, True
        # Another process created it between the two statements.
        found = await self.get(name)
        assert found is not None
        return found, False

    @retry_on_conflict
    async def assign_login_slot(self, name: str) -> RegistryRecord | None:
        """Give registry `name` the lowest free login slot unless it has one; None if there
        is no such registry."""
        async with self._db.write() as conn:
            slot = await _free_slot(conn)
            await conn.execute(
                update(registries)
                .where(registries.c.name == name, registries.c.login_slot.is_(None))
                .values(login_slot=slot)
            )
            row = (await conn.execute(_BY_NAME, {"name": name})).first()
        return None if row is None else _record(row)

    @retry_on_conflict
    async def update(self, name: str, settings: Mapping[str, object]) -> RegistryRecord | None:
        """Change settings of a registry; None if there is none.

        The auth version moves unless only quotas and rate limits change (they decide
        nobody's access).
        """
        _check(settings)
        values: dict[str, object] = dict(settings)
        if set(settings) - set(QUOTA_COLUMNS.values()) - RATE_COLUMNS:
            values["auth_version"] = registries.c.auth_version + 1
        async with self._db.write() as conn:
            result = await conn.execute(
                update(registries).where(registries.c.name == name).values(**values)
            )
            if not result.rowcount:
                return None
            row = (await conn.execute(_BY_NAME, {"name": name})).one()
        return _record(row)

    @retry_on_conflict
    async def delete(self, name: str) -> bool:
        """Remove a registry with everything in it; False if there was none.

        Repositories, manifests, tags, uploads, scope maps, tokens and role assignments go by
        cascade; credentials (which have no registry foreign key) are removed here. Blob bytes
        shared with other registries are untouched; unreferenced ones wait for collection.
        """
        async with self._db.write() as conn:
            registry_id = await conn.scalar(
                select(registries.c.id).where(registries.c.name == name)
            )
            if registry_id is None:
                return False
            token_ids = select(tokens.c.id).where(tokens.c.registry_id == registry_id)
            token_owners = [str(token_id) for token_id in (await conn.scalars(token_ids)).all()]
            await conn.execute(
                delete(credentials).where(
                    (credentials.c.owner_type == "token") & credentials.c.owner_id.in_(token_owners)
                )
            )
            await conn.execute(
                delete(credentials).where(
                    (credentials.c.owner_type == "admin")
                    & (credentials.c.owner_id == str(registry_id))
                )
            )
            await conn.execute(delete(tokens).where(tokens.c.registry_id == registry_id))
            await conn.execute(delete(registries).where(registries.c.id == registry_id))
        return True


def new_uid() -> str:
    """A registry's uid: 16 random bytes, hex (a collision is as likely as guessing a key)."""
    return secrets.token_hex(16)


async def bump_auth_version(conn: AsyncConnection, registry_id: int) -> None:
    """Record, inside the caller's write transaction, that who-may-do-what changed."""
    await conn.execute(
        update(registries)
        .where(registries.c.id == registry_id)
        .values(auth_version=registries.c.auth_version + 1)
    )


async def bump_all_auth_versions(conn: AsyncConnection) -> None:
    """Record, inside the caller's write transaction, that who-may-do-what changed in every
    registry (a deployment-wide identity, issuer or signing key went)."""
    await conn.execute(update(registries).values(auth_version=registries.c.auth_version + 1))


async def _free_slot(conn: AsyncConnection) -> int:
    """The lowest login slot no registry holds (slots of deleted registries are reused, so
    the ports stay few and next to the main one)."""
    slot = 1
    for taken in (await conn.scalars(_SLOTS_TAKEN)).all():
        if taken > slot:
            break
        slot = taken + 1
    return slot


def _check(settings: Mapping[str, object]) -> None:
    unknown = set(settings) - SETTABLE
    if unknown:
        raise ValueError(f"not a registry setting: {', '.join(sorted(unknown))}")
