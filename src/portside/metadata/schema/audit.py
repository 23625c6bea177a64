"""The audit log: one row per change, login or refused login, kept for the retention period.

Rows name their registry by name and by its never-reused uid (metadata/schema/content.py),
without a foreign key: a registry's records outlive the registry, and a registry deleted and
created again under the same name does not see the old one's records (reads select by uid).
Records of the management API that name no existing registry (a deployment-wide change, a
registry deleted before its record was written) have no uid and are read by the deployment
administrator only.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from portside.metadata.columns import UTCDateTime, metadata

__all__ = ["audit_log"]

audit_log = Table(
    "audit_log",
    metadata,
    # Written in batches by one process at a time per batch: `id` orders records of equal time.
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("registry", String(64), nullable=False, server_default=""),
    Column("registry_uid", String(32)),
    # The identity's kind (auth/identity.py KINDS) and id (a user name, a token name, a service
    # principal id, a subject): never a secret.
    Column("identity_kind", String(16), nullable=False),
    Column("identity_id", String(256), nullable=False, server_default=""),
    Column("client", String(64), nullable=False, server_default=""),
    Column("action", String(64), nullable=False),
    Column("target", String(512), nullable=False, server_default=""),
    # success, denied (401/403/429) or failed (any other error), with the answer's status.
    Column("outcome", String(8), nullable=False),
    Column("status", Integer, nullable=False),
    Column("request_id", String(128), nullable=False, server_default=""),
    Index("ix_audit_log_registry_uid_at", "registry_uid", "at", "id"),
    Index("ix_audit_log_registry_uid_identity_id", "registry_uid", "identity_id"),
    Index("ix_audit_log_registry_uid_action", "registry_uid", "action"),
    Index("ix_audit_log_at", "at"),
)
