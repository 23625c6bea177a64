"""Token-signing keys, kept in the database so that every node signs and verifies alike."""

from __future__ import annotations

import builtins

from sqlalchemy import ColumnElement, delete, select, update

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.records import SigningKeyRecord
from portside.metadata.registries import bump_all_auth_versions
from portside.metadata.schema import signing_keys

__all__ = ["RETIRED", "SIGNING", "UNKNOWN", "SigningKeyStore"]

# What `retire` found.
RETIRED, SIGNING, UNKNOWN = "retired", "signing", "unknown"


class SigningKeyStore:
    """The signing key in use (the newest unretired one) and older keys that still verify."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> builtins.list[SigningKeyRecord]:
        """All keys, the signing key first (newest unretired), then retired ones, newest first."""
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(signing_keys).order_by(
                        signing_keys.c.retired_at.is_not(None),
                        signing_keys.c.created_at.desc(),
                    )
                )
            ).all()
        return [
            SigningKeyRecord(
                row.kid, row.algorithm, row.private_pem, row.created_at, row.retired_at
            )
            for row in rows
        ]

    @retry_on_conflict
    async def add(self, key: SigningKeyRecord, *, only_if_none: bool = False) -> bool:
        """Store a new signing key and retire the others; with `only_if_none`, add it only if
        no key exists yet (nodes starting together agree on one key). True if it was added."""
        async with self._db.write() as conn:
            if only_if_none and await conn.scalar(select(signing_keys.c.kid).limit(1)) is not None:
                return False
            result = await conn.execute(
                insert_or_ignore(conn, signing_keys, ("kid",)).values(
                    kid=key.kid,
                    algorithm=key.algorithm,
                    private_pem=key.private_pem,
                    created_at=key.created_at,
                    retired_at=None,
                )
            )
            if not result.rowcount:
                # A key with this kid exists already: nothing changes (the signing key stays).
                return False
            await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at.is_(None), signing_keys.c.kid != key.kid)
                .values(retired_at=utcnow())
            )
        return True

    @retry_on_conflict
    async def remove_retired(self, kid: str | None = None) -> int:
        """Forget retired keys (one, or all): tokens they signed stop verifying."""
        condition: ColumnElement[bool] = signing_keys.c.retired_at.is_not(None)
        if kid is not None:
            condition = condition & (signing_keys.c.kid == kid)
        async with self._db.write() as conn:
            result = await conn.execute(delete(signing_keys).where(condition))
        return int(result.rowcount)

    async def signing_kid(self) -> str | None:
        """The kid of the key that signs (the newest unretired one), if any."""
        query = (
            select(signing_keys.c.kid)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at.desc())
            .limit(1)
        )
        async with self._db.read() as conn:
            kid: str | None = await conn.scalar(query)
        return kid

    async def has(self, kid: str) -> bool:
        """True if the key `kid` is still stored (neither retired nor removed)."""
        async with self._db.read() as conn:
            found = await conn.scalar(select(signing_keys.c.kid).where(signing_keys.c.kid == kid))
        return found is not None

    @retry_on_conflict
    async def retire(self, kid: str) -> str:
        """Remove the key `kid` unless it is the signing key: RETIRED, SIGNING or UNKNOWN.

        In the same transaction every registry's auth version moves, so that every node checks
        the key of any token issued before (the keys it holds in memory may still have it).
        """
        async with self._db.write() as conn:
            retired_at = await conn.execute(
                select(signing_keys.c.retired_at).where(signing_keys.c.kid == kid)
            )
            row = retired_at.first()
            if row is None:
                return UNKNOWN
            if row.retired_at is None:
                return SIGNING
            await conn.execute(delete(signing_keys).where(signing_keys.c.kid == kid))
            await bump_all_auth_versions(conn)
        return RETIRED
