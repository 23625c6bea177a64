"""Tables of throttling: request counts per registry and time window, and failed logins.

Both are shared by every node over the one database, so that a limit holds for the cluster and
not once per process. Times are whole seconds (request windows) or milliseconds (logins) since
the Unix epoch: the nodes' clocks decide, and are expected to agree (NTP) to well under a window.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table

from portside.metadata.columns import metadata

__all__ = ["login_failures", "request_counts"]

request_counts = Table(
    "request_counts",
    metadata,
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), primary_key=True),
    # `read` (GET, HEAD) or `write` (every other method).
    Column("kind", String(8), primary_key=True),
    # Start of the fixed window, in seconds since the epoch (a multiple of its length).
    Column("window_start", BigInteger, primary_key=True),
    # Units claimed by the nodes in this window (a node claims several at once).
    Column("claimed", BigInteger, nullable=False),
)

login_failures = Table(
    "login_failures",
    metadata,
    # SHA-256 (hex) of the throttle's key (registry, user name, client address): neither names
    # nor addresses are stored.
    Column("key", String(64), primary_key=True),
    # When the first failure counted in `failures` happened (ms since the epoch).
    Column("window_start_ms", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    # Attempts started and not yet settled, on every node.
    Column("pending", Integer, nullable=False),
    Column("locked_until_ms", BigInteger),
    # When the row means nothing any more (window and lockout over): swept by later writes.
    Column("expires_ms", BigInteger, nullable=False, index=True),
)
