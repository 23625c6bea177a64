"""Lock violations found by the stores, raised as the domain errors the API maps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from portside.metadata.locks import LockViolation, TagImmutableViolation
from portside.services.errors import Locked, TagImmutable

__all__ = ["lock_errors"]


@contextmanager
def lock_errors() -> Iterator[None]:
    """Turn LockViolation into Locked and TagImmutableViolation into TagImmutable."""
    try:
        yield
    except LockViolation as exc:
        raise Locked(exc.level, exc.name, exc.flag) from None
    except TagImmutableViolation as exc:
        raise TagImmutable(exc.tag) from None
