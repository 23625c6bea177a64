"""Stored secrets: argon2id hashes of admin passwords, token passwords and principal secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_update, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.records import CredentialRecord
from portside.metadata.registries import bump_all_auth_versions, bump_auth_version
from portside.metadata.schema import credentials, role_assignments

__all__ = ["CredentialStore"]

# Run on every Basic-authenticated request: built once.
_OF_OWNER = (
    select(credentials)
    .where(
        credentials.c.owner_type == bindparam("owner_type"),
        credentials.c.owner_id == bindparam("owner_id"),
    )
    .order_by(credentials.c.name)
)


def _record(row: Row[Any]) -> CredentialRecord:
    return CredentialRecord(
        id=row.id,
        owner_type=row.owner_type,
        owner_id=row.owner_id,
        name=row.name,
        hash=row.hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class CredentialStore:
    """Secrets by owner: (`admin`, registry id), (`token`, token id), (`sp`, id), ..."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def of(self, owner_type: str, owner_id: str) -> list[CredentialRecord]:
        """The owner's stored secrets, by name."""
        params = {"owner_type": owner_type, "owner_id": owner_id}
        async with self._db.read() as conn:
            rows = (await conn.execute(_OF_OWNER, params)).all()
        return [_record(row) for row in rows]

    @retry_on_conflict
    async def put(
        self,
        owner_type: str,
        owner_id: str,
        name: str,
        hash: str,
        *,
        expires_at: datetime | None = None,
        registry_id: int | None = None,
    ) -> CredentialRecord:
        """Set (create or replace) the secret `name` of an owner.

        With `registry_id`, the registry's auth version is bumped in the same transaction; a
        service principal's secrets bump every registry that assigns the principal a role.
        """
        values = {
            "owner_type": owner_type,
            "owner_id": owner_id,
            "name": name,
            "hash": hash,
            "created_at": utcnow(),
            "expires_at": expires_at,
        }
        async with self._db.write() as conn:
            await conn.execute(
                insert_or_update(
                    conn,
                    credentials,
                    ("owner_type", "owner_id", "name"),
                    update=("hash", "created_at", "expires_at"),
                    when_changed=("hash", "expires_at"),
                ).values(**values)
            )
            await _bump_for_owner(conn, owner_type, owner_id, registry_id)
            row = (
                await conn.execute(
                    select(credentials).where(
                        and_(
                            credentials.c.owner_type == owner_type,
                            credentials.c.owner_id == owner_id,
                            credentials.c.name == name,
                        )
                    )
                )
            ).one()
        return _record(row)

    @retry_on_conflict
    async def remove(
        self,
        owner_type: str,
        owner_id: str,
        name: str | None = None,
        *,
        registry_id: int | None = None,
    ) -> int:
        """Remove one secret (or all of the owner's); how many were removed.

        Auth versions are bumped as by `put`, if anything was removed.
        """
        condition = and_(credentials.c.owner_type == owner_type, credentials.c.owner_id == owner_id)
        if name is not None:
            condition = and_(condition, credentials.c.name == name)
        async with self._db.write() as conn:
            result = await conn.execute(delete(credentials).where(condition))
            if result.rowcount:
                await _bump_for_owner(conn, owner_type, owner_id, registry_id)
        return int(result.rowcount)


async def _bump_for_owner(
    conn: AsyncConnection, owner_type: str, owner_id: str, registry_id: int | None
) -> None:
    """Bump the auth versions a change of the owner's secrets concerns.

    A service principal is deployment-wide: its secrets matter to every registry assigning it a
    role, so tokens obtained with a renewed or removed secret stop working there at once. The
    deployment administrator's password matters to every registry.
    """
    if owner_type == "deployment":
        await bump_all_auth_versions(conn)
        return
    registry_ids = set() if registry_id is None else {registry_id}
    if owner_type == "sp":
        assigned = select(role_assignments.c.registry_id).where(
            and_(
                role_assignments.c.principal_type == "sp",
                role_assignments.c.principal == owner_id,
            )
        )
        registry_ids.update((await conn.scalars(assigned.distinct())).all())
    for found in sorted(registry_ids):
        await bump_auth_version(conn, found)
