"""Tables of the artifact cache: cache rules and when each cached tag was last checked."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy import false as sql_false

from portside.metadata.columns import UTCDateTime, metadata

__all__ = ["cache_rules", "cache_tag_checks"]

cache_rules = Table(
    "cache_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(50), nullable=False),
    # `HOST/path` or `HOST/path/*` (a trailing `*` matches any depth, as ACR's does).
    Column("source_repo", String(300), nullable=False),
    # `path` or `path/*`: the repositories of this registry the rule serves.
    Column("target_repo", String(300), nullable=False),
    # The name of a credential set of the same registry; None: anonymous upstream pulls.
    Column("credential_set", String(50)),
    # How long a cached tag is trusted before it is re-checked against the upstream.
    Column("ttl_seconds", Integer, nullable=False),
    Column("allow_push", Boolean, nullable=False, server_default=sql_false()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
    UniqueConstraint("registry_id", "target_repo"),
)

cache_tag_checks = Table(
    "cache_tag_checks",
    metadata,
    # A row exists only for a tag fetched from the upstream: a tag pushed under a rule that
    # allows pushes has none and is never overwritten by a refresh.
    Column("rule_id", ForeignKey("cache_rules.id", ondelete="CASCADE"), nullable=False),
    Column("repository", String(256), nullable=False),
    Column("tag", String(128), nullable=False),
    Column("digest", String(150), nullable=False),
    Column("checked_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("rule_id", "repository", "tag"),
)
