"""Trusted OIDC issuers kept in the database, and the counter that tells nodes they changed.

Issuers from the configuration file are not stored here (they are the settings'). Every change
moves the deployment-wide "trusted_issuers" version in the same transaction, so that a node
holding issuers in memory learns with one cheap read that it must read them again. Removing
an issuer also moves every registry's auth version: access tokens of its identities are
re-evaluated, and refused, at their next use on any node.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.registries import bump_all_auth_versions
from portside.metadata.schema import trusted_issuers, versions

__all__ = ["ISSUER_SETTINGS", "TrustedIssuerRecord", "TrustedIssuerStore"]

ISSUER_SETTINGS = frozenset(
    {
        "audience",
        "jwks_url",
        "jwks",
        "groups_claim",
        "tenant",
        "portal_client_id",
        "portal_secret_sealed",
        "portal_secret_key",
    }
)
"""What `update` may change (the name and the `iss` stay: delete and create instead)."""

_VERSION = "trusted_issuers"


@dataclass(frozen=True, slots=True)
class TrustedIssuerRecord:
    """A stored trusted issuer: exactly one of `jwks_url` and `jwks` (a JWKS document) is set."""

    name: str
    issuer: str
    audience: str
    jwks_url: str | None
    jwks: str | None
    groups_claim: str
    tenant: str | None
    created_at: datetime
    updated_at: datetime
    # Portal sign-in: the OAuth client id at the issuer (None: not offered for sign-in), and
    # its client secret sealed with the deployment key named `portal_secret_key`, if any.
    portal_client_id: str | None = None
    portal_secret_sealed: bytes | None = None
    portal_secret_key: str | None = None


def _record(row: Row[Any]) -> TrustedIssuerRecord:
    return TrustedIssuerRecord(
        name=row.name,
        issuer=row.issuer,
        audience=row.audience,
        jwks_url=row.jwks_url,
        jwks=row.jwks,
        groups_claim=row.groups_claim,
        tenant=row.tenant,
        created_at=row.created_at,
        updated_at=row.updated_at,
        portal_client_id=row.portal_client_id,
        portal_secret_sealed=row.portal_secret_sealed,
        portal_secret_key=row.portal_secret_key,
    )


class TrustedIssuerStore:
    """Trusted issuers by name, and the version that moves when any of them changes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def version(self) -> int:
        """The deployment-wide version of the stored issuers (0 before any change)."""
        async with self._db.read() as conn:
            value = await conn.scalar(select(versions.c.value).where(versions.c.name == _VERSION))
        return int(value or 0)

    async def list(self) -> builtins.list[TrustedIssuerRecord]:
        """Every stored issuer, by name."""
        async with self._db.read() as conn:
            rows = (await conn.execute(select(trusted_issuers).order_by("name"))).all()
        return [_record(row) for row in rows]

    async def get(self, name: str) -> TrustedIssuerRecord | None:
        """One stored issuer, or None."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(trusted_issuers).where(trusted_issuers.c.name == name))
            ).first()
        return None if row is None else _record(row)

    @retry_on_conflict
    async def create(
        self,
        name: str,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        jwks: str | None = None,
        groups_claim: str = "groups",
        tenant: str | None = None,
        portal: Mapping[str, object] | None = None,
    ) -> TrustedIssuerRecord | None:
        """Store a new issuer; None if the name or the `iss` is taken already. `portal` holds
        its portal sign-in columns (`portal_client_id`, `portal_secret_sealed`,
        `portal_secret_key`), if any."""
        now = utcnow()
        async with self._db.write() as conn:
            taken = await conn.scalar(
                select(trusted_issuers.c.name).where(
                    or_(trusted_issuers.c.name == name, trusted_issuers.c.issuer == issuer)
                )
            )
            if taken is not None:
                return None
            # A concurrent creation of the same name or `iss` fails on the unique keys and
            # is run again by retry_on_conflict, when it finds the winner's row.
            await conn.execute(
                insert(trusted_issuers).values(
                    name=name,
                    issuer=issuer,
                    audience=audience,
                    jwks_url=jwks_url,
                    jwks=jwks,
                    groups_claim=groups_claim,
                    tenant=tenant,
                    created_at=now,
                    updated_at=now,
                    **(portal or {}),
                )
            )
            await _bump(conn)
            row = (
                await conn.execute(select(trusted_issuers).where(trusted_issuers.c.name == name))
            ).one()
        return _record(row)

    @retry_on_conflict
    async def update(self, name: str, settings: Mapping[str, object]) -> TrustedIssuerRecord | None:
        """Change some of an issuer's `ISSUER_SETTINGS`; None if there is no such issuer."""
        unknown = set(settings) - ISSUER_SETTINGS
        if unknown:
            raise ValueError(f"not an issuer setting: {', '.join(sorted(unknown))}")
        async with self._db.write() as conn:
            result = await conn.execute(
                update(trusted_issuers)
                .where(trusted_issuers.c.name == name)
                .values(**settings, updated_at=utcnow())
            )
            if not result.rowcount:
                return None
            await _bump(conn)
            row = (
                await conn.execute(select(trusted_issuers).where(trusted_issuers.c.name == name))
            ).one()
        return _record(row)

    @retry_on_conflict
    async def delete(self, name: str) -> TrustedIssuerRecord | None:
        """Remove an issuer (the removed one; None if there was none), moving every registry's
        auth version so that its identities' access tokens are re-evaluated everywhere."""
        async with self._db.write() as conn:
            row = (
                await conn.execute(select(trusted_issuers).where(trusted_issuers.c.name == name))
            ).first()
            if row is None:
                return None
            await conn.execute(delete(trusted_issuers).where(trusted_issuers.c.name == name))
            await _bump(conn)
            await bump_all_auth_versions(conn)
        return _record(row)


async def _bump(conn: AsyncConnection) -> None:
    """Move the issuers' version inside the caller's transaction (creating its row if a
    database was built without the migration that seeds it)."""
    await conn.execute(insert_or_ignore(conn, versions, ("name",)).values(name=_VERSION, value=0))
    await conn.execute(
        update(versions).where(versions.c.name == _VERSION).values(value=versions.c.value + 1)
    )
