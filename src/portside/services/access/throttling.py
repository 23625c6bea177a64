"""`RequestThrottle`: per-registry request rate limits, counted for the whole cluster.

Limits are ACR's "registry throughput and throttling" figures per service tier (reads are GET
and HEAD, writes every other method), per minute; a registry's own override replaces its SKU's
(None: the SKU's; 0: unlimited). The default registry has no SKU limits unless overridden:
the embedded, loopback-open setup is not throttled by surprise. docs/operations.md has the
figures, their source and the bounds below.

Counting is shared through the database, in fixed one-minute windows (`request_counts`). A
request that hit the database each time would cost the hot path a write, so each process
claims units in chunks (`RequestCountStore.claim`: one upsert grants up to a chunk of what is
left in the window) and serves them from memory until they are used up. Hence, per registry,
kind and window:

- the cluster serves at most `limit` requests (a claim is granted only what fits);
- the chunk is 2% of the limit, at least 1 and at most `max_claim` (100): one database write
  per chunk, and an exact count for limits below 100 (chunks of 1);
- a process claims its next chunk when a quarter of a chunk is left, so requests rarely wait
  for a claim; it holds at most `chunk + chunk // 4` units, so a request is refused only once
  the cluster has claimed the whole limit, and at most `(processes - 1) x (chunk + chunk // 4)`
  units claimed by other processes may then still be unused;
- a process that learns the window is full answers 429 from memory until the window ends.

Fixed windows let a client send up to twice the limit across a window boundary (the end of
one window and the start of the next); ACR states its limits per minute the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import anyio

from portside.metadata.records import RegistryRecord
from portside.metadata.throttling import RequestCountStore
from portside.services.errors import TooManyRequests

__all__ = [
    "SKU_RATE_LIMITS",
    "WINDOW_SECONDS",
    "RateLimits",
    "RequestThrottle",
    "rate_limits",
]

WINDOW_SECONDS = 60
"""Length of a counting window by default: ACR's limits are per minute."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Reads and writes per minute; None is unlimited."""

    read: int | None
    write: int | None


# ACR, "Registry throughput and throttling" (learn.microsoft.com/azure/container-registry/
# container-registry-skus, as of 2026): ReadOps and WriteOps per minute by service tier.
SKU_RATE_LIMITS: Mapping[str, RateLimits] = MappingProxyType(
    {
        "Basic": RateLimits(read=1_000, write=100),
        "Standard": RateLimits(read=3_000, write=500),
        "Premium": RateLimits(read=10_000, write=2_000),
    }
)

_READS = frozenset({"GET", "HEAD"})
# What a chunk takes of the limit: 1/50 (2%), so at most 50 claims per window and process.
_CHUNK_DIVISOR = 50


def rate_limits(record: RegistryRecord, *, default_registry: str | None) -> RateLimits:
    """The registry's limits: its overrides, else its SKU's (none for `default_registry`);
    0 overrides are unlimited."""
    if record.name == default_registry:
        sku = RateLimits(None, None)
    else:
        sku = SKU_RATE_LIMITS.get(record.sku, SKU_RATE_LIMITS["Standard"])
    return RateLimits(
        read=_effective(record.read_ops_per_minute, sku.read),
        write=_effective(record.write_ops_per_minute, sku.write),
    )


@dataclass(slots=True)
class _Budget:
    """What this process may still serve of one registry's kind in one window."""

    window: int
    remaining: int = 0
    full: bool = False
    # A claim ahead of need is under way (one at a time).
    topping_up: bool = False


class RequestThrottle:
    """Admits or refuses (TooManyRequests) each request of a registry against its limits."""

    def __init__(
        self,
        store: RequestCountStore,
        *,
        enabled: bool = True,
        window_seconds: int = WINDOW_SECONDS,
        default_registry: str | None = None,
        max_claim: int = 100,
        clock: Callable[[], float] = time.time,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        """`enabled=False` switches every limit off; `default_registry` has no SKU limits
        (only its overrides); `on_refused` is told the kind (`read`/`write`) of each refusal."""
        if max_claim < 1:
            raise ValueError("max_claim must be at least 1")
        if window_seconds < 1:
            raise ValueError("window_seconds must be at least 1")
        self._window = window_seconds
        self._store = store
        self._enabled = enabled
        self._default = default_registry
        self._max_claim = max_claim
        self._clock = clock
        self._on_refused = on_refused
        self._budgets: dict[tuple[int, str], _Budget] = {}
        self._locks: dict[tuple[int, str], anyio.Lock] = {}

    def limits(self, record: RegistryRecord) -> RateLimits:
        """The registry's limits (`rate_limits`), or none when throttling is off."""
        if not self._enabled:
            return RateLimits(None, None)
        return rate_limits(record, default_registry=self._default)

    async def admit(self, record: RegistryRecord, method: str) -> None:
        """Count one request of `method` against the registry's limit; TooManyRequests (with
        the seconds until the window ends) if it is used up."""
        kind = "read" if method in _READS else "write"
        limits = self.limits(record)
        limit = limits.read if kind == "read" else limits.write
        if limit is None:
            return
        now = self._clock()
        window = int(now // self._window) * self._window
        key = (record.id, kind)
        budget = self._budgets.get(key)
        # The hot path: no await between the check and the decrement, so no other task of
        # this process can take the same unit.
        if budget is not None and budget.window == window and budget.remaining > 0:
            budget.remaining -= 1
            chunk = _chunk(limit, self._max_claim)
            if budget.remaining <= chunk // 4 and not (budget.full or budget.topping_up):
                # Claim the next chunk before this one runs out: only this request waits for
                # the database, the others go on with what is left.
                await self._top_up(budget, record.id, kind, chunk, limit)
            return
        if budget is None or budget.window != window or not budget.full:
            lock = self._locks.setdefault(key, anyio.Lock())
            async with lock:
                if await self._refill(key, record.id, kind, window, limit):
                    return
        self._refuse(kind, window + self._window - now)

    async def _refill(
        self, key: tuple[int, str], registry_id: int, kind: str, window: int, limit: int
    ) -> bool:
        """Take one unit, claiming a chunk from the shared count if this process has none left;
        False if the window is used up. The caller holds the key's lock."""
        budget = self._budgets.get(key)
        if budget is None or budget.window != window:
            budget = self._budgets[key] = _Budget(window)
            first = True
        else:
            first = False
        if budget.remaining == 0 and not budget.full:
            chunk = _chunk(limit, self._max_claim)
            granted = await self._store.claim(registry_id, kind, window, chunk, limit, prune=first)
            budget.remaining += granted
            budget.full = granted < chunk
        if budget.remaining > 0:
            budget.remaining -= 1
            return True
        return False

    async def _top_up(
        self, budget: _Budget, registry_id: int, kind: str, chunk: int, limit: int
    ) -> None:
        """Claim one more chunk into `budget` while it still has units to serve."""
        budget.topping_up = True
        try:
            granted = await self._store.claim(registry_id, kind, budget.window, chunk, limit)
        finally:
            budget.topping_up = False
        budget.remaining += granted
        budget.full = granted < chunk

    def _refuse(self, kind: str, retry_after: float) -> None:
        if self._on_refused is not None:
            self._on_refused(kind)
        noun = "reads" if kind == "read" else "writes"
        raise TooManyRequests(
            f"the registry's {noun} per minute are used up: retry after the window ends",
            retry_after,
        )


def _chunk(limit: int, max_claim: int) -> int:
    """Units claimed at once: 2% of the limit, at least 1, at most `max_claim`."""
    return max(1, min(max_claim, limit // _CHUNK_DIVISOR))


def _effective(override: int | None, sku: int | None) -> int | None:
    """An override (0: unlimited) or else the SKU's limit."""
    if override is None:
        return sku
    return override or None
