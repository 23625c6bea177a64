"""Tables of imports and upstream registries: credential sets, the key that seals their
secrets, and import jobs.

registries ─< credential_sets     (an upstream login server, a user name, a sealed password)
           └─< import_jobs        (one row per `portside import`, its progress and outcome)
deployment_keys                   (deployment-wide: the AES-GCM keys that seal secrets)
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from portside.metadata.columns import UTCDateTime, metadata

__all__ = ["credential_sets", "deployment_keys", "import_jobs"]

deployment_keys = Table(
    "deployment_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    # 32 random bytes, shared by every node (as signing keys are). Whoever reads the database
    # reads this key too, unless the deployment configures `secrets_key` instead (then rows
    # sealed under it name a kid not found here): docs/import-and-cache.md.
    Column("key", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

credential_sets = Table(
    "credential_sets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(50), nullable=False),
    Column("login_server", String(255), nullable=False),
    Column("username", String(255), nullable=False),
    # nonce || AES-GCM ciphertext of the password, bound to (registry, name); `key_id` names
    # the deployment key that sealed it.
    Column("password_sealed", LargeBinary, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
)

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    # queued → running → succeeded | failed. Written by the process that runs the job, read
    # by any node.
    Column("status", String(16), nullable=False),
    # What was asked, as JSON (source, targets, options; never a password).
    Column("request", Text, nullable=False),
    Column("bytes_done", BigInteger, nullable=False, server_default="0"),
    Column("bytes_total", BigInteger, nullable=False, server_default="0"),
    # What was imported, as JSON (digest, tags), once it succeeded.
    Column("result", Text),
    Column("error_code", String(64)),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_import_jobs_registry_created", "registry_id", "created_at"),
)
