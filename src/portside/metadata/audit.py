"""The audit log's rows: appended in batches, read newest first a page at a time, pruned by age.

Pages are keyset pages ordered by time, then id (newest first): `last` names the last record
of the previous page, which must be one of the same registry's (UnknownCursor otherwise), so a
cursor never reveals or reaches another registry's records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, insert, or_, select, true

from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.errors import UnknownCursor
from portside.metadata.schema import audit_log, registries

__all__ = ["AuditEntry", "AuditFilter", "AuditRecord", "AuditStore"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record to append. `registry_uid` None: looked up by `registry` when written (the
    management API knows a registry only by the name in its path)."""

    at: datetime
    registry: str
    registry_uid: str | None
    identity_kind: str
    identity_id: str
    client: str
    action: str
    target: str
    outcome: str
    status: int
    request_id: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored record: an entry and its id (the paging cursor)."""

    id: int
    entry: AuditEntry


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a reader asks for: records since a time, of one identity (`id` or `kind:id`) or
    kind (`kind:`), of one action (`manifest.push`) or family of actions (`manifest`)."""

    since: datetime | None = None
    identity: str | None = None
    action: str | None = None


_ENTRY_COLUMNS = tuple(AuditEntry.__dataclass_fields__)


def _record(row: Any) -> AuditRecord:
    return AuditRecord(row.id, AuditEntry(**{name: getattr(row, name) for name in _ENTRY_COLUMNS}))


def _conditions(found: AuditFilter) -> list[ColumnElement[bool]]:
    c = audit_log.c
    conditions: list[ColumnElement[bool]] = []
    if found.since is not None:
        conditions.append(c.at >= found.since)
    if found.identity:
        # `kind:id` names one identity of a kind, `kind:` every identity of it; ids may hold
        # a colon themselves, so the whole value is also tried as an id.
        kind, colon, subject = found.identity.partition(":")
        named = c.identity_id == found.identity
        if colon:
            of_kind = c.identity_kind == kind
            named = or_(named, and_(of_kind, c.identity_id == subject) if subject else of_kind)
        conditions.append(named)
    if found.action:
        exact = c.action == found.action
        family = c.action.startswith(found.action + ".", autoescape=True)
        conditions.append(exact if "." in found.action else or_(exact, family))
    return conditions


class AuditStore:
    """Append, page through and prune the audit log."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_on_conflict
    async def append(self, entries: Sequence[AuditEntry]) -> int:
        """Write `entries` in one transaction, naming each by its registry's uid (looked up by
        name for those without one; none if no such registry exists now). How many."""
        if not entries:
            return 0
        rows = [asdict(entry) for entry in entries]
        unresolved = {row["registry"] for row in rows if row["registry_uid"] is None}
        unresolved.discard("")
        async with self._db.write() as conn:
            uids: dict[str, str] = {}
            if unresolved:
                found = await conn.execute(
                    select(registries.c.name, registries.c.uid).where(
                        registries.c.name.in_(sorted(unresolved))
                    )
                )
                uids = {row.name: row.uid for row in found}
            for row in rows:
                if row["registry_uid"] is None:
                    row["registry_uid"] = uids.get(row["registry"])
            await conn.execute(insert(audit_log), rows)
        return len(rows)

    async def registry_page(
        self, uid: str, found: AuditFilter, *, last: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """One registry's records (by its uid), newest first, after the record `last`."""
        return await self._page(audit_log.c.registry_uid == uid, found, last, limit)

    async def deployment_page(
        self,
        found: AuditFilter,
        *,
        registry: str | None = None,
        last: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Every registry's records and the deployment's own (or those naming `registry`),
        newest first, after the record `last`: for the deployment administrator only."""
        scope = true() if registry is None else audit_log.c.registry == registry
        return await self._page(scope, found, last, limit)

    async def _page(
        self, scope: ColumnElement[bool], found: AuditFilter, last: int | None, limit: int
    ) -> list[AuditRecord]:
        c = audit_log.c
        query: Select[Any] = select(audit_log).where(scope, *_conditions(found))
        async with self._db.read() as conn:
            if last is not None:
                cursor = await conn.scalar(select(c.at).where(scope, c.id == last))
                if cursor is None:
                    raise UnknownCursor(str(last))
                query = query.where(or_(c.at < cursor, and_(c.at == cursor, c.id < last)))
            query = query.order_by(c.at.desc(), c.id.desc()).limit(limit)
            rows = (await conn.execute(query)).all()
        return [_record(row) for row in rows]

    @retry_on_conflict
    async def prune(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` records older than `before`, oldest first; how many."""
        c = audit_log.c
        oldest = select(c.id).where(c.at < before).order_by(c.id).limit(limit)
        async with self._db.write() as conn:
            result = await conn.execute(delete(audit_log).where(c.id.in_(oldest.scalar_subquery())))
        return int(result.rowcount)
