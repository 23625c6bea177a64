"""Errors raised by the stores. The services translate them into the errors their API maps.

MetadataError
├── LockViolation          a lock flag (write, delete, read) forbids the change
├── TagImmutableViolation  the registry's tags are immutable and the change would move one
├── QuotaViolation         the change would take the registry past a quota (storage, repositories)
├── ScopeMapInUse          tokens are still bound to the scope map being deleted
├── ScopeMapUnknown        a token names a scope map the registry does not have (a LookupError)
├── RestoreBlocked         a recycle-bin entry cannot come back: something it needs is gone
└── UnknownCursor          a page continues after an item that is not there (a LookupError)

Raised inside a write transaction, each of them rolls the transaction back. Misuse by the
caller (an unknown flag, setting or backend) raises ValueError instead: it is a bug, not a state.

DatabaseUnavailable stands apart: not a refusal but a lost database (refused connections, a
connection cut mid-transaction, a server shutting down, an exhausted pool). `Database` raises it
in place of the driver's errors so that the HTTP layer answers 503 with Retry-After, not 500.
"""

from __future__ import annotations

__all__ = [
    "DatabaseUnavailable",
    "LockViolation",
    "MetadataError",
    "QuotaViolation",
    "RestoreBlocked",
    "ScopeMapInUse",
    "ScopeMapUnknown",
    "TagImmutableViolation",
    "UnknownCursor",
]


class MetadataError(Exception):
    """Base class of what the stores refuse because of the data they hold."""


class LockViolation(MetadataError):
    """A flag forbids the change: `level` ("repository", "tag", "manifest") `name` has
    `flag` ("write", "delete", "read") disabled."""

    def __init__(self, level: str, name: str, flag: str) -> None:
        super().__init__(f"{level} {name} is {flag}-disabled")
        self.level = level
        self.name = name
        self.flag = flag


class TagImmutableViolation(MetadataError):
    """The registry's tags are immutable and the change would move tag `tag`."""

    def __init__(self, tag: str) -> None:
        super().__init__(f"tags are immutable in this registry: {tag} already names a manifest")
        self.tag = tag


class QuotaViolation(MetadataError):
    """A change would take the registry past one of its limits (`quota`: e.g. storage_bytes)."""

    def __init__(self, quota: str, limit: int, message: str) -> None:
        super().__init__(message)
        self.quota = quota
        self.limit = limit
        self.message = message


class ScopeMapInUse(MetadataError):
    """A scope map still has tokens bound to it."""


class ScopeMapUnknown(MetadataError, LookupError):
    """The scope map a token should be bound to does not exist in the registry."""


class RestoreBlocked(MetadataError):
    """The entry cannot come back (a blob or a child manifest it needs is gone)."""


class UnknownCursor(MetadataError, LookupError):
    """A time-ordered page asked to continue after an item that is not (or no longer) there."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached now (`reason` says how); retrying later may succeed."""

    outage = True
    """Background jobs log it as one line, not a traceback (portside/logs.py `job_failed`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the metadata database is unavailable: {reason}")
        self.reason = reason
