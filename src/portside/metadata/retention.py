"""Lifecycle policies of a registry and its keep-last-N retention rules.

A registry's policies live in three of its columns: `retention_untagged_days` (untagged
manifests older than this many days are deleted; None: off), `soft_delete_days` (deleted
manifests and tags stay restorable this many days; None: off) and `keep_orphan_referrers`
(referrers whose subject was deleted stay). `read_policy` reads them inside the caller's
transaction, so a deletion applies the policy it commits against.

Retention rules (`retention_rules`) keep the newest `keep_last` tags matching `tag_filter` in
each repository matching `repositories`; the lifecycle job deletes the older ones.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.connections import ReadConnection
from portside.metadata.database import Database
from portside.metadata.schema import registries, retention_rules

__all__ = [
    "LifecyclePolicy",
    "RegistryPolicy",
    "RetentionRule",
    "RetentionStore",
    "read_policy",
]

_POLICY_COLUMNS = (
    registries.c.retention_untagged_days,
    registries.c.soft_delete_days,
    registries.c.keep_orphan_referrers,
)
_RULE_COLUMNS = (
    retention_rules.c.id,
    retention_rules.c.repositories,
    retention_rules.c.tag_filter,
    retention_rules.c.keep_last,
    retention_rules.c.created_at,
)


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """A registry's lifecycle settings (None: that policy is off)."""

    retention_untagged_days: int | None = None
    soft_delete_days: int | None = None
    keep_orphan_referrers: bool = False


@dataclass(frozen=True, slots=True)
class RegistryPolicy:
    """A registry (id and name) with its lifecycle settings and retention rules."""

    registry_id: int
    name: str
    policy: LifecyclePolicy
    rules: tuple[RetentionRule, ...]


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """Keep the newest `keep_last` tags matching `tag_filter` (a regular expression) in each
    repository matching `repositories` (`*`, a name or `prefix/*`)."""

    id: int
    repositories: str
    tag_filter: str
    keep_last: int
    created_at: datetime


def _policy(row: Sequence[Any]) -> LifecyclePolicy:
    days, soft, keep = tuple(row)
    return LifecyclePolicy(
        None if days is None else int(days), None if soft is None else int(soft), bool(keep)
    )


def _rule(row: Sequence[Any]) -> RetentionRule:
    rule_id, repositories, tag_filter, keep_last, created_at = tuple(row)
    return RetentionRule(int(rule_id), repositories, tag_filter, int(keep_last), created_at)


async def read_policy(conn: ReadConnection, registry_id: int) -> LifecyclePolicy:
    """The registry's lifecycle settings, read inside the caller's transaction."""
    row = (
        await conn.execute(select(*_POLICY_COLUMNS).where(registries.c.id == registry_id))
    ).first()
    return LifecyclePolicy() if row is None else _policy(row)


class RetentionStore:
    """Reads and writes lifecycle policies and retention rules."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def policy(self, registry_id: int) -> LifecyclePolicy:
        """The registry's lifecycle settings (all off for an unknown registry)."""
        async with self._db.read() as conn:
            return await read_policy(conn, registry_id)

    @retry_on_conflict
    async def set_policy(self, registry_id: int, policy: LifecyclePolicy) -> bool:
        """Replace the registry's lifecycle settings; False if there is no such registry."""
        async with self._db.write() as conn:
            result = await conn.execute(
                update(registries)
                .where(registries.c.id == registry_id)
                .values(
                    retention_untagged_days=policy.retention_untagged_days,
                    soft_delete_days=policy.soft_delete_days,
                    keep_orphan_referrers=policy.keep_orphan_referrers,
                )
            )
        return result.rowcount > 0

    async def rules(self, registry_id: int) -> list[RetentionRule]:
        """The registry's retention rules, oldest first."""
        query = (
            select(*_RULE_COLUMNS)
            .where(retention_rules.c.registry_id == registry_id)
            .order_by(retention_rules.c.id)
        )
        async with self._db.read() as conn:
            return [_rule(row) for row in (await conn.execute(query)).all()]

    @retry_on_conflict
    async def add_rule(
        self, registry_id: int, repositories: str, tag_filter: str, keep_last: int
    ) -> RetentionRule | None:
        """Add a rule; None if the registry has one for the same repositories and filter."""
        async with self._db.write() as conn:
            new_id = await conn.scalar(
                insert_or_ignore(
                    conn, retention_rules, ("registry_id", "repositories", "tag_filter")
                )
                .values(
                    registry_id=registry_id,
                    repositories=repositories,
                    tag_filter=tag_filter,
                    keep_last=keep_last,
                    created_at=utcnow(),
                )
                .returning(retention_rules.c.id)
            )
            if new_id is None:
                return None
            row = (
                await conn.execute(select(*_RULE_COLUMNS).where(retention_rules.c.id == new_id))
            ).one()
        return _rule(row)

    @retry_on_conflict
    async def delete_rule(self, registry_id: int, rule_id: int) -> bool:
        """Remove one of the registry's rules; False if it has no such rule."""
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(retention_rules).where(
                    retention_rules.c.registry_id == registry_id, retention_rules.c.id == rule_id
                )
            )
        return result.rowcount > 0

    async def active(self) -> builtins.list[RegistryPolicy]:
        """Registries with untagged retention on or at least one rule, by name."""
        with_rules = select(retention_rules.c.registry_id).distinct()
        query = (
            select(registries.c.id, registries.c.name, *_POLICY_COLUMNS)
            .where(
                or_(
                    registries.c.retention_untagged_days.is_not(None),
                    registries.c.id.in_(with_rules),
                )
            )
            .order_by(registries.c.name)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
            rule_rows = (
                await conn.execute(
                    select(retention_rules.c.registry_id, *_RULE_COLUMNS).order_by(
                        retention_rules.c.id
                    )
                )
            ).all()
        rules: dict[int, list[RetentionRule]] = {}
        for row in rule_rows:
            rules.setdefault(int(row[0]), []).append(_rule(row[1:]))
        return [
            RegistryPolicy(int(row[0]), row[1], _policy(row[2:]), tuple(rules.get(row[0], ())))
            for row in rows
        ]
