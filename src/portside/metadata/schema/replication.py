"""Tables of geo-replication: the locations a registry is replicated to, and which
location's storage holds which blob (docs/geo-replication.md)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy import true as sql_true

from portside.metadata.columns import UTCDateTime, metadata

__all__ = ["blob_locations", "replications"]

replications = Table(
    "replications",
    metadata,
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), primary_key=True),
    Column("location", String(63), primary_key=True),
    # ACR's flag: the location is left out of routing (the load balancer reads it).
    Column("region_endpoint_enabled", Boolean, nullable=False, server_default=sql_true()),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_replications_location", "location"),
)

blob_locations = Table(
    "blob_locations",
    metadata,
    # Goes with the blob row, so a blob pushed again after collection starts unconfirmed.
    Column("digest", ForeignKey("blobs.digest", ondelete="CASCADE"), primary_key=True),
    Column("location", String(63), primary_key=True),
    # present: the location's storage holds the verified bytes; failed: the last copy failed.
    Column("state", String(16), nullable=False),
    Column("bytes", BigInteger, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("last_error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_blob_locations_location_state", "location", "state"),
)
