"""Where the stores' refusals become the registry's domain errors (services/errors.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from portside.metadata.errors import LockViolation, QuotaViolation, TagImmutableViolation
from portside.services.errors import Locked, QuotaExceeded, TagImmutable

__all__ = ["lock_errors"]


@contextmanager
def lock_errors() -> Iterator[None]:
    """Turn LockViolation into Locked, TagImmutableViolation into TagImmutable and
    QuotaViolation into QuotaExceeded."""
    try:
        yield
    except LockViolation as exc:
        raise Locked(exc.level, exc.name, exc.flag) from None
    except TagImmutableViolation as exc:
        raise TagImmutable(exc.tag) from None
    except QuotaViolation as exc:
        raise QuotaExceeded(exc.message, {"quota": exc.quota, "limit": exc.limit}) from None
