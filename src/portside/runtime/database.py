"""The metadata database a process opens, from the settings: one place for its options."""

from __future__ import annotations

from portside.config import Settings
from portside.metadata.database import Database, TransactionObserver

__all__ = ["database_of"]


def database_of(settings: Settings, observe: TransactionObserver | None = None) -> Database:
    """The configured database (`observe` is told of each transaction), for `Runtime` and for
    the processes that need the database without a whole runtime (runtime/forwarder.py)."""
    s = settings
    return Database(
        s.resolved_database_url(),
        pool_size=s.database_pool_size,
        max_overflow=s.database_max_overflow,
        pool_timeout=s.database_pool_timeout,
        pool_recycle=s.database_pool_recycle,
        observe=observe,
        read_url=s.database_read_url,
    )
