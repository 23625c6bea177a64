"""Regional webhooks' push events, held until the pushed image is complete in the webhook's
location (docs/events.md#regional-webhooks).

`hold` runs in the push's write transaction (called by metadata/webhooks.py's `enqueue`), so
a held event commits or rolls back with the push, as an outbox row does. The replication
worker of a location calls `RegionalEventStore.release` after each pass: in one transaction it
moves every held event of that location whose manifest (and, for an index, its children) has
all its blobs `present` there into webhook_events, with the id and payload written at push
time. A disabled webhook's held events are dropped then (a disabled webhook records nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, delete, exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.schema import (
    blob_locations,
    manifest_blobs,
    manifest_children,
    manifests,
    regional_events,
    repositories,
    webhook_events,
    webhooks,
)

__all__ = ["RegionalEventStore", "hold"]


async def hold(
    conn: AsyncConnection,
    hook_id: int,
    location: str,
    repository: str,
    digest: str,
    event: Mapping[str, Any],
) -> None:
    """Hold an outbox row (`event`, as built for webhook_events) of a push until the manifest
    `repository@digest` of the webhook's registry is complete in `location`."""
    registry_id = select(webhooks.c.registry_id).where(webhooks.c.id == hook_id).scalar_subquery()
    manifest_id = await conn.scalar(
        select(manifests.c.id)
        .join(repositories, repositories.c.id == manifests.c.repository_id)
        .where(
            repositories.c.registry_id == registry_id,
            repositories.c.name == repository,
            manifests.c.digest == digest,
        )
    )
    if manifest_id is None:  # not stored: nothing will ever complete
        return
    await conn.execute(
        insert(regional_events).values(
            id=event["id"],
            webhook_id=hook_id,
            manifest_id=manifest_id,
            location=location,
            action=event["action"],
            payload=event["payload"],
            created_at=event["created_at"],
        )
    )


def _incomplete(location: str) -> Any:
    """True where a blob of the held event's manifest, or of one of its children, is not
    confirmed present in `location`."""
    parent, child = manifests.alias("parent"), manifests.alias("child")
    children = (
        select(child.c.id)
        .join(manifest_children, manifest_children.c.child_digest == child.c.digest)
        .join(
            parent,
            and_(
                parent.c.id == manifest_children.c.manifest_id,
                parent.c.repository_id == child.c.repository_id,
            ),
        )
        .where(parent.c.id == regional_events.c.manifest_id)
    )
    here = blob_locations.alias("here")
    return exists(
        select(manifest_blobs.c.digest)
        .outerjoin(
            here,
            and_(
                here.c.digest == manifest_blobs.c.digest,
                here.c.location == location,
                here.c.state == "present",
            ),
        )
        .where(
            or_(
                manifest_blobs.c.manifest_id == regional_events.c.manifest_id,
                manifest_blobs.c.manifest_id.in_(children),
            ),
            here.c.digest.is_(None),
        )
    )


class RegionalEventStore:
    """Held push events of regional webhooks, released by the location's worker."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_on_conflict
    async def release(self, location: str, limit: int = 500) -> int:
        """Move the held events of `location` whose image is complete there into the outbox,
        oldest first; how many were released."""
        now = utcnow()
        async with self._db.write() as conn:
            rows = (
                await conn.execute(
                    select(regional_events, webhooks.c.enabled)
                    .join(webhooks, webhooks.c.id == regional_events.c.webhook_id)
                    .where(regional_events.c.location == location, ~_incomplete(location))
                    .order_by(regional_events.c.seq)
                    .limit(limit)
                )
            ).all()
            if not rows:
                return 0
            await conn.execute(
                delete(regional_events).where(regional_events.c.seq.in_([r.seq for r in rows]))
            )
            released = [
                {
                    "id": r.id,
                    "webhook_id": r.webhook_id,
                    "action": r.action,
                    "payload": r.payload,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "retry_from": now,
                    "created_at": r.created_at,
                }
                for r in rows
                if r.enabled
            ]
            if released:
                await conn.execute(insert(webhook_events), released)
        return len(released)
