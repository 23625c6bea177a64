"""Tables of the web portal: its server-side sign-in sessions."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from portside.metadata.columns import UTCDateTime, metadata

__all__ = ["portal_sessions"]

portal_sessions = Table(
    "portal_sessions",
    metadata,
    # SHA-256 of the random cookie value: a read of this table does not hand out sessions.
    Column("id", String(64), primary_key=True),
    # deployment (the administrator), sp (a service principal) or admin (a registry's admin
    # user, whose registry is `registry_id`).
    Column("kind", String(16), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=True),
    # Fingerprint of the secret the identity signed in with: the session lives only while
    # that secret is a current one (renewed, removed or reset ends it), as tokens' `sec`.
    Column("secret", String(128), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_portal_sessions_expires_at", "expires_at"),
)
