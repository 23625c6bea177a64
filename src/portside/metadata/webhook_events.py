"""The outbox of webhook deliveries, as the delivery job and `list-events` see it.

A webhook's events go out one at a time in the order they were written (`seq`): a webhook is
due when its oldest pending event (its head) is, so a receiver that is down holds the later
ones back until the head is delivered or fails. Rows are written by metadata/webhooks.py.
Settled events (delivered or failed) are pruned after their retention, by the time of their
last attempt (`next_attempt_at`, which settling sets to it).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.schema import webhook_events, webhooks

__all__ = ["Attempt", "DueEvent", "EventRecord", "WebhookEventStore"]


@dataclass(frozen=True, slots=True)
class DueEvent:
    """An event to deliver now, with where and how to send it."""

    seq: int
    id: str
    webhook_id: int
    uri: str
    headers: dict[str, str]
    payload: str
    attempts: int
    retry_from: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one delivery attempt."""

    delivered: bool
    status: int | None
    response: str | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event with its delivery state, for `list-events`."""

    id: str
    action: str
    payload: dict[str, Any]
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_response: str | None
    last_error: str | None
    last_duration_ms: int | None


def _record(row: Any) -> EventRecord:
    return EventRecord(
        id=row.id,
        action=row.action,
        payload=json.loads(row.payload),
        state=row.state,
        attempts=int(row.attempts),
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_response=row.last_response,
        last_error=row.last_error,
        last_duration_ms=row.last_duration_ms,
    )


class WebhookEventStore:
    """Due events, delivery outcomes, the delivery log and redelivery."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def due(
        self, limit: int, per_hook: int = 1, now: datetime | None = None
    ) -> builtins.list[DueEvent]:
        """The pending events of up to `limit` webhooks whose head (oldest pending event) is
        due: each webhook's first `per_hook` pending events, in order (`seq`)."""
        now = now or utcnow()
        pending = webhook_events.c.state == "pending"
        heads = (
            select(webhook_events.c.webhook_id, func.min(webhook_events.c.seq).label("head"))
            .where(pending)
            .group_by(webhook_events.c.webhook_id)
            .subquery()
        )
        due_hooks = (
            select(heads.c.webhook_id)
            .join(webhook_events, webhook_events.c.seq == heads.c.head)
            .where(webhook_events.c.next_attempt_at <= now)
            .order_by(heads.c.head)
            .limit(limit)
        )
        rank = func.row_number().over(
            partition_by=webhook_events.c.webhook_id, order_by=webhook_events.c.seq
        )
        ranked = (
            select(
                webhook_events.c.seq,
                webhook_events.c.id,
                webhook_events.c.webhook_id,
                webhook_events.c.payload,
                webhook_events.c.attempts,
                webhook_events.c.retry_from,
                rank.label("rank"),
            )
            .where(pending, webhook_events.c.webhook_id.in_(due_hooks))
            .subquery()
        )
        query = (
            select(ranked, webhooks.c.uri, webhooks.c.headers)
            .join(webhooks, webhooks.c.id == ranked.c.webhook_id)
            .where(ranked.c.rank <= per_hook)
            .order_by(ranked.c.seq)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            DueEvent(
                int(r.seq),
                r.id,
                int(r.webhook_id),
                r.uri,
                dict(json.loads(r.headers or "{}")),
                r.payload,
                int(r.attempts),
                r.retry_from,
            )
            for r in rows
        ]

    async def record(self, seq: int, attempt: Attempt, retry_at: datetime | None) -> None:
        """Record an attempt: delivered, or pending again at `retry_at`, or (None) failed."""
        await self.record_many([(seq, attempt, retry_at)])

    @retry_on_conflict
    async def record_many(self, outcomes: Sequence[tuple[int, Attempt, datetime | None]]) -> None:
        """Record several attempts (event `seq`, attempt, retry time) in one transaction."""
        now = utcnow()
        async with self._db.write() as conn:
            for seq, attempt, retry_at in outcomes:
                state = "delivered" if attempt.delivered else "pending" if retry_at else "failed"
                await conn.execute(
                    update(webhook_events)
                    .where(webhook_events.c.seq == seq, webhook_events.c.state == "pending")
                    .values(
                        state=state,
                        attempts=webhook_events.c.attempts + 1,
                        next_attempt_at=retry_at or now,
                        last_attempt_at=now,
                        last_status=attempt.status,
                        last_response=attempt.response,
                        last_error=attempt.error,
                        last_duration_ms=attempt.duration_ms,
                    )
                )

    async def list(self, hook_id: int, limit: int = 100) -> builtins.list[EventRecord]:
        """The webhook's events, newest first."""
        query = (
            select(webhook_events)
            .where(webhook_events.c.webhook_id == hook_id)
            .order_by(webhook_events.c.seq.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            return [_record(row) for row in (await conn.execute(query)).all()]

    async def get(self, hook_id: int, event_id: str) -> EventRecord | None:
        """One event of the webhook."""
        query = select(webhook_events).where(
            webhook_events.c.webhook_id == hook_id, webhook_events.c.id == event_id
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    @retry_on_conflict
    async def redeliver(self, hook_id: int, event_id: str) -> bool:
        """Deliver the event again (same id and payload), retrying afresh; False if unknown."""
        now = utcnow()
        async with self._db.write() as conn:
            result = await conn.execute(
                update(webhook_events)
                .where(webhook_events.c.webhook_id == hook_id, webhook_events.c.id == event_id)
                .values(state="pending", next_attempt_at=now, retry_from=now)
            )
        return result.rowcount > 0

    async def pending_count(self) -> int:
        """How many events wait for delivery (counted on the `(state, next_attempt_at)`
        index)."""
        query = select(func.count()).where(webhook_events.c.state == "pending")
        async with self._db.read() as conn:
            return int(await conn.scalar(query) or 0)

    @retry_on_conflict
    async def prune(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` delivered or failed events settled before `before`; how many."""
        oldest = (
            select(webhook_events.c.seq)
            .where(
                webhook_events.c.state.in_(("delivered", "failed")),
                webhook_events.c.next_attempt_at < before,
            )
            .order_by(webhook_events.c.next_attempt_at)
            .limit(limit)
        )
        async with self._db.write() as conn:
            result = await conn.execute(
                delete(webhook_events).where(webhook_events.c.seq.in_(oldest))
            )
        return result.rowcount
