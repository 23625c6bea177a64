"""Table of regional webhooks: push events held until the image is complete in a location
(docs/events.md#regional-webhooks)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from portside.metadata.columns import UTCDateTime, metadata

__all__ = ["regional_events"]

regional_events = Table(
    "regional_events",
    metadata,
    # Written in the push's transaction, moved into webhook_events (same id and payload) by the
    # replication worker of `location` once every blob of the manifest is present there.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("webhook_id", ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    # A manifest deleted before it was complete takes its held push events with it.
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("location", String(63), nullable=False),
    Column("action", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_regional_events_location_seq", "location", "seq"),
)
