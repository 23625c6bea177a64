"""Slowing down password guessing: lock a key out after too many failed logins.

An attempt is counted when it starts, not when its slow verification ends: `reserve` takes one
of the key's `max_failures` places before the caller verifies, and `succeeded` or `failed`
settles it. Attempts arriving at once therefore cannot all be verified: once the places are
taken by attempts still being checked, further ones wait for their outcome, and at most
`max_failures` verifications run for a key per window before it is locked.

Without `shared` counts, the state is per process: with several server processes or nodes,
each keeps its own count, so a guesser gets at most `max_failures` tries per window per
process. Memory is bounded: beyond `max_keys` keys, the least recently touched are forgotten.

With `shared` counts (the composition root passes the database's, metadata/throttling.py),
`attempt` reserves, fails and clears in them instead, keyed by a SHA-256 of the key: every
process and node sees the same places and the same lockout, so a guesser gets `max_failures`
tries per window in the whole cluster. That costs two small writes per password attempt
(reserve, settle); bearer tokens never come here.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio

from portside.auth.errors import Throttled

__all__ = ["LoginThrottle", "SharedLoginCounts"]

_T = TypeVar("_T")

# How often an attempt waiting for the attempts in flight asks again, and for how long at most.
_POLL_SECONDS = 0.02
_MAX_WAIT_SECONDS = 10.0
# Asking the shared counts is a database write: waiters ask less often, and less and less.
_SHARED_POLL_SECONDS = 0.05
_SHARED_MAX_POLL_SECONDS = 1.0


class SharedLoginCounts(Protocol):
    """Places, failures and lockouts per key, shared by every process (times in ms since the
    epoch; the policy, the same on every node, is the implementation's)."""

    def reserve(self, key: str, now_ms: int) -> Awaitable[int | None]:
        """None if a place was taken, else ms to wait (0: every place is in flight)."""
        ...

    def failed(self, key: str, now_ms: int) -> Awaitable[bool]:
        """Settle a reserved attempt as failed; True if the key is now locked out."""
        ...

    def succeeded(self, key: str) -> Awaitable[None]:
        """Forget the key's failures and attempts in flight."""
        ...


@dataclass(slots=True)
class _Record:
    """Recent failure times of one key, attempts being checked, and when its lockout ends."""

    failures: deque[float] = field(default_factory=deque)
    pending: int = 0
    locked_until: float | None = None


class LoginThrottle:
    """Counts logins per key (a user name and client address) and locks keys out."""

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_seconds: float = 60.0,
        lockout_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        on_failure: Callable[[], None] | None = None,
        shared: SharedLoginCounts | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Lock a key for `lockout_seconds` after `max_failures` failures in `window_seconds`;
        `on_failure` is called for each failure (the composition root counts them); with
        `shared`, `attempt` counts there (by `wall_clock`, which every node shares)."""
        if max_failures < 1 or max_keys < 1:
            raise ValueError("max_failures and max_keys must be at least 1")
        self._max_failures = max_failures
        self._window = window_seconds
        self._lockout = lockout_seconds
        self._clock = clock
        self._max_keys = max_keys
        self._on_failure = on_failure
        self._shared = shared
        self._wall_clock = wall_clock
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
            if not record.failures and not record.pending:
                del self._records[key]
            return None

    async def reserve(self, key: str) -> float | None:
        """Count an attempt for `key` before checking it: None if it may go ahead (then report
        its outcome with `succeeded` or `failed`), else the seconds `key` is locked out for.

        While every place left is taken by attempts still being checked, wait for them.
        """
        waited = 0.0
        while (wait := self._try_reserve(key)) == 0.0:
            if waited >= _MAX_WAIT_SECONDS:
                return _POLL_SECONDS
            await anyio.sleep(_POLL_SECONDS)
            waited += _POLL_SECONDS
        return wait

    async def attempt(
        self, key: str, check: Callable[[], Awaitable[_T | None]], *, locked: str
    ) -> _T | None:
        """Run one login `check` for `key`, counted before it starts: its result, None if it
        failed. Throttled (with the message `locked`) if the key is locked out.

        An attempt whose check did not finish (an error, a cancellation) counts as failed.
        """
        if self._shared is not None:
            return await self._attempt_shared(self._shared, key, check, locked=locked)
        wait = await self.reserve(key)
        if wait is not None:
            raise Throttled(locked, wait)
        result: _T | None = None
        try:
            result = await check()
        finally:
            if result is None:
                self.failed(key)
            else:
                self.succeeded(key)
        return result

    async def _attempt_shared(
        self,
        shared: SharedLoginCounts,
        key: str,
        check: Callable[[], Awaitable[_T | None]],
        *,
        locked: str,
    ) -> _T | None:
        """`attempt`, counted in the shared counts."""
        hashed = hashlib.sha256(key.encode()).hexdigest()
        waited, pause = 0.0, _SHARED_POLL_SECONDS
        while (wait_ms := await shared.reserve(hashed, self._now_ms())) == 0:
            if waited >= _MAX_WAIT_SECONDS:
                raise Throttled(locked, 1)
            await anyio.sleep(pause)
            waited += pause
            # Each ask is a write: a crowd of waiters backs off rather than hammer the database.
            pause = min(pause * 2, _SHARED_MAX_POLL_SECONDS)
        if wait_ms is not None:
            raise Throttled(locked, wait_ms / 1000)
        result: _T | None = None
        try:
            result = await check()
        finally:
            # Settled even when the request is cancelled: else its place stays taken.
            with anyio.CancelScope(shield=True):
                if result is None:
                    if self._on_failure is not None:
                        self._on_failure()
                    await shared.failed(hashed, self._now_ms())
                else:
                    await shared.succeeded(hashed)
        return result

    def _now_ms(self) -> int:
        return int(self._wall_clock() * 1000)

    def _try_reserve(self, key: str) -> float | None:
        """None: reserved; 0.0: all places taken by attempts in flight; else the lockout left."""
        now = self._clock()
        with self._lock:
            record = self._touch(key)
            if record.locked_until is not None:
                if record.locked_until > now:
                    return record.locked_until - now
                record.locked_until = None
            failures = record.failures
            while failures and failures[0] <= now - self._window:
                failures.popleft()
            if len(failures) + record.pending >= self._max_failures:
                return 0.0
            record.pending += 1
            return None

    def failed(self, key: str) -> None:
        """Settle a reserved attempt of `key` as failed; lock the key once it reaches the limit."""
        if self._on_failure is not None:
            self._on_failure()
        now = self._clock()
        with self._lock:
            record = self._touch(key)
            record.pending = max(0, record.pending - 1)
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

    def succeeded(self, key: str) -> None:
        """Forget the failures (and attempts in flight) of `key` after a successful login."""
        with self._lock:
            self._records.pop(key, None)

    def _touch(self, key: str) -> _Record:
        """The record of `key`, created if needed, as the most recently used; the lock is held."""
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record()
            while len(self._records) > self._max_keys:
                self._records.popitem(last=False)
        self._records.move_to_end(key)
        return record

    def __len__(self) -> int:
        """How many keys are tracked."""
        with self._lock:
            return len(self._records)
