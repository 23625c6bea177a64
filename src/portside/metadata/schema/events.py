"""Tables of events: webhooks and their outbox of deliveries."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import true as sql_true

from portside.metadata.columns import UTCDateTime, metadata

__all__ = ["webhook_events", "webhooks"]

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(50), nullable=False),
    Column("uri", Text, nullable=False),
    # Space-separated actions (`push delete ...`), as ACR names them.
    Column("actions", String(200), nullable=False),
    # ACR's scope: `repo:tag`, `repo:*`, `repo` (= `repo:latest`), or empty for everything.
    Column("scope", String(300), nullable=False, server_default=""),
    # JSON object of custom headers: sent with every delivery, shown masked once created.
    Column("headers", Text, nullable=False, server_default="{}"),
    Column("enabled", Boolean, nullable=False, server_default=sql_true()),
    Column("created_at", UTCDateTime, nullable=False),
    # A regional webhook's location: its push events wait until the image is complete there.
    Column("location", String(63)),
    # The unique index also serves the push path's "does this registry have webhooks?" read.
    UniqueConstraint("registry_id", "name"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    # The transactional outbox: a row is written in the transaction of the change it reports
    # and delivered later. `seq` orders a webhook's events; `id` is the event's id receivers
    # deduplicate by (kept on redelivery).
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("webhook_id", ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    # pending → delivered | failed (after retrying for webhook_retry_seconds).
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    # When retrying started (creation, or the last redelivery): the event fails once retries
    # have gone on for webhook_retry_seconds from here.
    Column("retry_from", UTCDateTime, nullable=False),
    Column("last_attempt_at", UTCDateTime),
    Column("last_status", Integer),
    Column("last_response", Text),
    Column("last_error", Text),
    Column("last_duration_ms", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_webhook_events_webhook_state", "webhook_id", "state", "seq"),
    Index("ix_webhook_events_state_due", "state", "next_attempt_at"),
)
