"""Credential sets of a registry (an upstream login server, a user name and a sealed
password) and the deployment keys that seal them.

The store never sees a password in clear: services/imports/sealing.py seals it before it
arrives and opens it after it leaves.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.schema import credential_sets, deployment_keys

__all__ = ["CredentialSetRecord", "CredentialSetStore", "DeploymentKeyStore"]


@dataclass(frozen=True, slots=True)
class CredentialSetRecord:
    """A credential set as stored: the password sealed, under the key `key_id`."""

    id: int
    registry_id: int
    name: str
    login_server: str
    username: str
    password_sealed: bytes
    key_id: str
    created_at: datetime
    updated_at: datetime


_COLUMNS = (
    credential_sets.c.id,
    credential_sets.c.registry_id,
    credential_sets.c.name,
    credential_sets.c.login_server,
    credential_sets.c.username,
    credential_sets.c.password_sealed,
    credential_sets.c.key_id,
    credential_sets.c.created_at,
    credential_sets.c.updated_at,
)


def _record(row: Any) -> CredentialSetRecord:
    return CredentialSetRecord(
        row.id,
        row.registry_id,
        row.name,
        row.login_server,
        row.username,
        bytes(row.password_sealed),
        row.key_id,
        row.created_at,
        row.updated_at,
    )


class CredentialSetStore:
    """Rows of `credential_sets`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_on_conflict
    async def create(
        self,
        registry_id: int,
        name: str,
        login_server: str,
        username: str,
        password_sealed: bytes,
        key_id: str,
    ) -> CredentialSetRecord | None:
        """Add a credential set; None if the registry already has one of that name."""
        now = utcnow()
        async with self._db.write() as conn:
            result = await conn.execute(
                insert_or_ignore(conn, credential_sets, ("registry_id", "name")).values(
                    registry_id=registry_id,
                    name=name,
                    login_server=login_server,
                    username=username,
                    password_sealed=password_sealed,
                    key_id=key_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            if not result.rowcount:
                return None
            row = (
                await conn.execute(
                    select(*_COLUMNS).where(
                        credential_sets.c.registry_id == registry_id,
                        credential_sets.c.name == name,
                    )
                )
            ).one()
        return _record(row)

    async def list(self, registry_id: int) -> builtins.list[CredentialSetRecord]:
        """The registry's credential sets by name."""
        query = (
            select(*_COLUMNS)
            .where(credential_sets.c.registry_id == registry_id)
            .order_by(credential_sets.c.name)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    async def get(self, registry_id: int, name: str) -> CredentialSetRecord | None:
        """One credential set, or None."""
        query = select(*_COLUMNS).where(
            credential_sets.c.registry_id == registry_id, credential_sets.c.name == name
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    @retry_on_conflict
    async def update(
        self, registry_id: int, name: str, changes: Mapping[str, Any]
    ) -> CredentialSetRecord | None:
        """Set the given columns (login_server, username, password_sealed, key_id); None if
        there is no such credential set."""
        where = (credential_sets.c.registry_id == registry_id) & (credential_sets.c.name == name)
        async with self._db.write() as conn:
            result = await conn.execute(
                update(credential_sets).where(where).values(**changes, updated_at=utcnow())
            )
            if not result.rowcount:
                return None
            row = (await conn.execute(select(*_COLUMNS).where(where))).one()
        return _record(row)

    @retry_on_conflict
    async def delete(self, registry_id: int, name: str) -> bool:
        """Remove a credential set; False if there was none."""
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(credential_sets).where(
                    credential_sets.c.registry_id == registry_id, credential_sets.c.name == name
                )
            )
        return bool(result.rowcount)


class DeploymentKeyStore:
    """The deployment's sealing keys, shared by every node through the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> dict[str, bytes]:
        """Every stored key by kid, the first stored first."""
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(deployment_keys).order_by(
                        deployment_keys.c.created_at, deployment_keys.c.kid
                    )
                )
            ).all()
        return {row.kid: bytes(row.key) for row in rows}

    @retry_on_conflict
    async def add_first(self, kid: str, key: bytes) -> None:
        """Store `key` unless a key exists already. Two nodes starting together may both
        add one: both are kept, every node opens with either and seals with the first."""
        async with self._db.write() as conn:
            if await conn.scalar(select(deployment_keys.c.kid).limit(1)) is not None:
                return
            await conn.execute(
                insert_or_ignore(conn, deployment_keys, ("kid",)).values(
                    kid=kid, key=key, created_at=utcnow()
                )
            )
