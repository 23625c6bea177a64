"""Lock violations found by the stores, raised as the domain errors the API maps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from portside.metadata import usage
from portside.metadata.locks import LockViolation, TagImmutableViolation
from portside.services.errors import Locked, QuotaExceeded, TagImmutable

__all__ = ["lock_errors"]


@contextmanager
def lock_errors() -> Iterator[None]:
    """Turn LockViolation into Locked, TagImmutableViolation into TagImmutable and a
    store's QuotaExceeded into the service's."""
    try:
        yield
    except LockViolation as exc:
        raise Locked(exc.level, exc.name, exc.flag) from None
    except TagImmutableViolation as exc:
        raise TagImmutable(exc.tag) from None
    except usage.QuotaExceeded as exc:
        raise QuotaExceeded(exc.message, {"quota": exc.quota, "limit": exc.limit}) from None
