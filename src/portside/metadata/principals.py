"""Service principals (deployment-wide) and role assignments (per registry)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, and_, delete, or_, select

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.records import RoleAssignmentRecord, ServicePrincipalRecord
from portside.metadata.registries import bump_auth_version
from portside.metadata.schema import credentials, role_assignments, service_principals

__all__ = ["RoleAssignmentStore", "ServicePrincipalStore"]


def _principal(row: Row[Any]) -> ServicePrincipalRecord:
    return ServicePrincipalRecord(id=row.id, name=row.name, created_at=row.created_at)


def _assignment(row: Row[Any]) -> RoleAssignmentRecord:
    return RoleAssignmentRecord(
        id=row.id,
        registry_id=row.registry_id,
        principal_type=row.principal_type,
        principal=row.principal,
        role=row.role,
        repositories=row.repositories,
        created_at=row.created_at,
        issuer=row.issuer,
    )


class ServicePrincipalStore:
    """Application identities that registries grant roles to."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, principal_id: str) -> ServicePrincipalRecord | None:
        """One service principal, or None."""
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(service_principals).where(service_principals.c.id == principal_id)
                )
            ).first()
        return None if row is None else _principal(row)

    async def list(self) -> builtins.list[ServicePrincipalRecord]:
        """Every service principal, by name."""
        async with self._db.read() as conn:
            rows = (
                await conn.execute(select(service_principals).order_by(service_principals.c.name))
            ).all()
        return [_principal(row) for row in rows]

    @retry_on_conflict
    async def create(self, principal_id: str, name: str) -> ServicePrincipalRecord:
        """Add a service principal."""
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(
                service_principals.insert().values(id=principal_id, name=name, created_at=now)
            )
        return ServicePrincipalRecord(principal_id, name, now)

    @retry_on_conflict
    async def delete(self, principal_id: str) -> bool:
        """Remove a service principal, its secrets and its role assignments everywhere."""
        async with self._db.write() as conn:
            registry_ids = (
                await conn.scalars(
                    select(role_assignments.c.registry_id)
                    .where(
                        and_(
                            role_assignments.c.principal_type == "sp",
                            role_assignments.c.principal == principal_id,
                        )
                    )
                    .distinct()
                )
            ).all()
            await conn.execute(
                delete(role_assignments).where(
                    and_(
                        role_assignments.c.principal_type == "sp",
                        role_assignments.c.principal == principal_id,
                    )
                )
            )
            await conn.execute(
                delete(credentials).where(
                    and_(credentials.c.owner_type == "sp", credentials.c.owner_id == principal_id)
                )
            )
            result = await conn.execute(
                delete(service_principals).where(service_principals.c.id == principal_id)
            )
            for registry_id in registry_ids:
                await bump_auth_version(conn, registry_id)
        return result.rowcount > 0


class RoleAssignmentStore:
    """Who holds which role in which registry, over which repositories."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(
        self, registry_id: int | None = None, principal: str | None = None
    ) -> builtins.list[RoleAssignmentRecord]:
        """Assignments, optionally of one registry and/or one principal."""
        query = select(role_assignments).order_by(role_assignments.c.id)
        if registry_id is not None:
            query = query.where(role_assignments.c.registry_id == registry_id)
        if principal is not None:
            query = query.where(role_assignments.c.principal == principal)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_assignment(row) for row in rows]

    async def of_principals(
        self, registry_id: int, principals: Iterable[tuple[str, str]], *, issuer: str = ""
    ) -> builtins.list[RoleAssignmentRecord]:
        """The assignments in a registry naming any of (principal type, principal) of `issuer`
        (a federated identity's trusted issuer; "" for service principals)."""
        wanted = [
            and_(role_assignments.c.principal_type == kind, role_assignments.c.principal == name)
            for kind, name in principals
        ]
        if not wanted:
            return []
        query = select(role_assignments).where(
            and_(
                role_assignments.c.registry_id == registry_id,
                role_assignments.c.issuer == issuer,
                or_(*wanted),
            )
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [_assignment(row) for row in rows]

    @retry_on_conflict
    async def create(
        self,
        registry_id: int,
        principal_type: str,
        principal: str,
        role: str,
        repositories: str,
        *,
        issuer: str = "",
    ) -> RoleAssignmentRecord:
        """Assign a role (idempotent: the same assignment twice is one assignment); `issuer`
        is the trusted issuer of a federated subject or group."""
        keys = ("registry_id", "principal_type", "issuer", "principal", "role", "repositories")
        row_values = (registry_id, principal_type, issuer, principal, role, repositories)
        values = dict(zip(keys, row_values, strict=True))
        async with self._db.write() as conn:
            await conn.execute(
                insert_or_ignore(conn, role_assignments, keys).values(**values, created_at=utcnow())
            )
            await bump_auth_version(conn, registry_id)
            row = (
                await conn.execute(
                    select(role_assignments).where(
                        and_(*(role_assignments.c[key] == value for key, value in values.items()))
                    )
                )
            ).one()
        return _assignment(row)

    @retry_on_conflict
    async def delete(self, assignment_id: int, registry_id: int | None = None) -> bool:
        """Remove one assignment (only from `registry_id`, when given)."""
        condition = role_assignments.c.id == assignment_id
        if registry_id is not None:
            condition = and_(condition, role_assignments.c.registry_id == registry_id)
        async with self._db.write() as conn:
            found = await conn.scalar(select(role_assignments.c.registry_id).where(condition))
            if found is None:
                return False
            await conn.execute(delete(role_assignments).where(condition))
            await bump_auth_version(conn, found)
        return True
