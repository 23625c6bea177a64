"""Cache rules of a registry and the record of when each cached tag was last checked.

A registry's rules are few (ACR allows 1,000), so the pull path reads them whole and matches
them in the service (services/imports/cache_rules.py).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, insert_or_update, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.schema import cache_rules, cache_tag_checks, registries

__all__ = ["CacheRuleRecord", "CacheRuleStore", "TagCheck"]


@dataclass(frozen=True, slots=True)
class CacheRuleRecord:
    """A cache rule: which upstream repositories serve which local ones."""

    id: int
    registry_id: int
    registry: str
    name: str
    source_repo: str
    target_repo: str
    credential_set: str | None
    ttl_seconds: int
    allow_push: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TagCheck:
    """When a cached tag was last found current upstream, and the digest it had."""

    digest: str
    checked_at: datetime


def _record(row: Any) -> CacheRuleRecord:
    return CacheRuleRecord(
        id=int(row.id),
        registry_id=int(row.registry_id),
        registry=row.registry,
        name=row.name,
        source_repo=row.source_repo,
        target_repo=row.target_repo,
        credential_set=row.credential_set,
        ttl_seconds=int(row.ttl_seconds),
        allow_push=bool(row.allow_push),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# A rule's record carries its registry's name: the credential sets it names are looked up by it.
_RULES = select(cache_rules, registries.c.name.label("registry")).select_from(
    cache_rules.join(registries, registries.c.id == cache_rules.c.registry_id)
)


class CacheRuleStore:
    """A registry's cache rules and its cached tags' checks."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self, registry_id: int) -> builtins.list[CacheRuleRecord]:
        """The registry's rules, by name."""
        query = _RULES.where(cache_rules.c.registry_id == registry_id).order_by(cache_rules.c.name)
        async with self._db.read() as conn:
            return [_record(row) for row in (await conn.execute(query)).all()]

    async def get(self, registry_id: int, name: str) -> CacheRuleRecord | None:
        """One rule by name."""
        query = _RULES.where(cache_rules.c.registry_id == registry_id, cache_rules.c.name == name)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    @retry_on_conflict
    async def create(
        self, registry_id: int, name: str, values: Mapping[str, Any]
    ) -> CacheRuleRecord | None:
        """Add a rule; None if its name or its target is taken."""
        now = utcnow()
        async with self._db.write() as conn:
            clash = await conn.scalar(
                select(func.count()).where(
                    cache_rules.c.registry_id == registry_id,
                    cache_rules.c.target_repo == values["target_repo"],
                )
            )
            if clash:
                return None
            created = await conn.execute(
                insert_or_ignore(conn, cache_rules, ("registry_id", "name")).values(
                    registry_id=registry_id, name=name, created_at=now, updated_at=now, **values
                )
            )
            if not created.rowcount:
                return None
            return await _get(conn, registry_id, name)

    @retry_on_conflict
    async def update(
        self, registry_id: int, name: str, changes: Mapping[str, Any]
    ) -> CacheRuleRecord | None:
        """Change a rule's credential set, TTL or push permission; None if there is none."""
        where = and_(cache_rules.c.registry_id == registry_id, cache_rules.c.name == name)
        async with self._db.write() as conn:
            if changes:
                await conn.execute(
                    update(cache_rules).where(where).values(updated_at=utcnow(), **changes)
                )
            return await _get(conn, registry_id, name)

    @retry_on_conflict
    async def delete(self, registry_id: int, name: str) -> bool:
        """Delete a rule and its tag checks (not the content it cached); False if none."""
        where = and_(cache_rules.c.registry_id == registry_id, cache_rules.c.name == name)
        async with self._db.write() as conn:
            result = await conn.execute(delete(cache_rules).where(where))
        return result.rowcount > 0

    async def tag_check(self, rule_id: int, repository: str, tag: str) -> TagCheck | None:
        """When the cached tag was last checked upstream; None if it was never fetched."""
        query = select(cache_tag_checks.c.digest, cache_tag_checks.c.checked_at).where(
            cache_tag_checks.c.rule_id == rule_id,
            cache_tag_checks.c.repository == repository,
            cache_tag_checks.c.tag == tag,
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else TagCheck(row.digest, row.checked_at)

    @retry_on_conflict
    async def record_check(self, rule_id: int, repository: str, tag: str, digest: str) -> None:
        """Note that the tag was found (or fetched) with `digest` upstream just now."""
        async with self._db.write() as conn:
            await conn.execute(
                insert_or_update(
                    conn,
                    cache_tag_checks,
                    ("rule_id", "repository", "tag"),
                    ("digest", "checked_at"),
                    ("digest", "checked_at"),
                ).values(
                    rule_id=rule_id,
                    repository=repository,
                    tag=tag,
                    digest=digest,
                    checked_at=utcnow(),
                )
            )


async def _get(conn: AsyncConnection, registry_id: int, name: str) -> CacheRuleRecord | None:
    query = _RULES.where(cache_rules.c.registry_id == registry_id, cache_rules.c.name == name)
    row = (await conn.execute(query)).first()
    return None if row is None else _record(row)
