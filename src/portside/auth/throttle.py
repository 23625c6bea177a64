"""Slowing down password guessing: lock a key out after too many failed logins.

The state is per process: with several server processes or nodes, each keeps its own count, so
a guesser gets at most `max_failures` tries per window per process. Memory is bounded: beyond
`max_keys` keys, the least recently touched are forgotten.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LoginThrottle"]


@dataclass(slots=True)
class _Record:
    """Recent failure times of one key, and when its lockout ends (None if not locked)."""

    failures: deque[float] = field(default_factory=deque)
    locked_until: float | None = None


class LoginThrottle:
    """Counts failed logins per key (a user name, a client address) and locks keys out."""

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_seconds: float = 60.0,
        lockout_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        """Lock a key for `lockout_seconds` after `max_failures` failures in `window_seconds`."""
        if max_failures < 1 or max_keys < 1:
            raise ValueError("max_failures and max_keys must be at least 1")
        self._max_failures = max_failures
        self._window = window_seconds
        self._lockout = lockout_seconds
        self._clock = clock
        self._max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float | None:
        """Seconds `key` must wait before trying again, or None if it may try now."""
        now = self._clock()
        with self._lock:
            record = self._records.get(key)
            if record is None or record.locked_until is None:
                return None
            if record.locked_until > now:
                return record.locked_until - now
            record.locked_until = None
            if not record.failures:
                del self._records[key]
            return None

    def failed(self, key: str) -> None:
        """Record a failed login for `key`; lock it once it reaches the limit."""
        now = self._clock()
        with self._lock:
            record = self._records.get(key)
            if record is None:
                record = self._records[key] = _Record()
            self._records.move_to_end(key)
            if record.locked_until is not None and record.locked_until > now:
                return
            record.locked_until = None
            failures = record.failures
            while failures and failures[0] <= now - self._window:
                failures.popleft()
            failures.append(now)
            if len(failures) >= self._max_failures:
                failures.clear()
                record.locked_until = now + self._lockout
            while len(self._records) > self._max_keys:
                self._records.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """Forget the failures of `key` after a successful login."""
        with self._lock:
            self._records.pop(key, None)

    def __len__(self) -> int:
        """How many keys are tracked."""
        with self._lock:
            return len(self._records)
