"""Request rate limits: SKU defaults and overrides, chunked claims shared by several
processes, windows, and the default registry left alone."""

from __future__ import annotations

import dataclasses

import anyio
import pytest

from portside.auth.errors import Throttled
from portside.auth.throttle import LoginThrottle
from portside.metadata.database import Database
from portside.metadata.records import RegistryRecord
from portside.metadata.registries import RegistryStore
from portside.metadata.throttling import LoginFailureStore, LoginPolicy, RequestCountStore
from portside.services.access.throttling import (
    SKU_RATE_LIMITS,
    RateLimits,
    RequestThrottle,
    rate_limits,
)
from portside.services.errors import TooManyRequests

pytestmark = pytest.mark.anyio

START = 1_800_000_000.0  # a window start (a multiple of 60)


class Clock:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


async def _registry(db: Database, name: str = "acme", **settings: object) -> RegistryRecord:
    store = RegistryStore(db)
    record = await store.create(name)
    assert record is not None
    if settings:
        record = await store.update(name, settings)
        assert record is not None
    return record


async def _served(throttle: RequestThrottle, record: RegistryRecord, method: str, n: int) -> int:
    served = 0
    for _ in range(n):
        try:
            await throttle.admit(record, method)
        except TooManyRequests:
            continue
        served += 1
    return served


def test_limits_follow_the_sku_unless_overridden() -> None:
    basic = RegistryRecord(id=1, name="a", sku="Basic")
    assert rate_limits(basic, default_registry="main") == RateLimits(1_000, 100)
    premium = RegistryRecord(id=1, name="a", sku="Premium", write_ops_per_minute=7)
    assert rate_limits(premium, default_registry="main") == RateLimits(10_000, 7)
    unlimited = RegistryRecord(id=1, name="a", sku="Premium", read_ops_per_minute=0)
    assert rate_limits(unlimited, default_registry="main").read is None
    assert SKU_RATE_LIMITS["Standard"] == RateLimits(3_000, 500)
    # The default registry has no SKU limits, only overrides.
    main = RegistryRecord(id=1, name="main", sku="Basic")
    assert rate_limits(main, default_registry="main") == RateLimits(None, None)
    capped = dataclasses.replace(main, read_ops_per_minute=5)
    assert rate_limits(capped, default_registry="main") == RateLimits(5, None)


async def test_reads_and_writes_are_limited_apart(db: Database) -> None:
    clock = Clock()
    record = await _registry(db, read_ops_per_minute=5, write_ops_per_minute=2)
    throttle = RequestThrottle(RequestCountStore(db), clock=clock)
    assert await _served(throttle, record, "GET", 4) == 4
    assert await _served(throttle, record, "HEAD", 4) == 1
    assert await _served(throttle, record, "PUT", 3) == 2
    clock.now = START + 45.2
    with pytest.raises(TooManyRequests) as refused:
        await throttle.admit(record, "DELETE")
    assert refused.value.retry_after == 15, "seconds until the window ends, rounded up"
    # The next window starts afresh.
    clock.now = START + 60
    assert await _served(throttle, record, "GET", 6) == 5


async def test_a_shorter_window_counts_the_limit_per_window(db: Database) -> None:
    clock = Clock()
    record = await _registry(db, read_ops_per_minute=3)
    throttle = RequestThrottle(RequestCountStore(db), clock=clock, window_seconds=10)
    assert await _served(throttle, record, "GET", 5) == 3
    clock.now = START + 7.5
    with pytest.raises(TooManyRequests) as refused:
        await throttle.admit(record, "GET")
    assert refused.value.retry_after == 3, "seconds until the 10 s window ends, rounded up"
    # Ten seconds in, not sixty: the limit is counted afresh.
    clock.now = START + 10
    assert await _served(throttle, record, "GET", 5) == 3
    with pytest.raises(ValueError):
        RequestThrottle(RequestCountStore(db), window_seconds=0)


async def test_processes_share_the_limit(db: Database) -> None:
    clock = Clock()
    limit = 1_000  # chunks of 20
    record = await _registry(db, read_ops_per_minute=limit)
    nodes = [RequestThrottle(RequestCountStore(db), clock=clock) for _ in range(3)]
    served = [0, 0, 0]
    for turn in range(1_200):
        index = turn % 3
        try:
            await nodes[index].admit(record, "GET")
        except TooManyRequests:
            continue
        served[index] += 1
    # Never more than the limit; at most (processes - 1) x (chunk + chunk // 4) units were
    # left unused elsewhere when the last process was refused.
    assert limit - 2 * 25 <= sum(served) <= limit
    assert await RequestCountStore(db).claimed(record.id, "read", int(START)) <= limit + 20


async def test_concurrent_requests_of_one_process_claim_by_chunks(db: Database) -> None:
    clock = Clock()
    record = await _registry(db, read_ops_per_minute=500)  # chunks of 10
    store = RequestCountStore(db)
    throttle = RequestThrottle(store, clock=clock)
    admitted: list[bool] = []

    async def request() -> None:
        try:
            await throttle.admit(record, "GET")
        except TooManyRequests:
            admitted.append(False)
        else:
            admitted.append(True)

    async with anyio.create_task_group() as tasks:
        for _ in range(35):
            tasks.start_soon(request)
    assert all(admitted) and len(admitted) == 35
    # Chunks of ten, the next claimed when two are left: 35 requests, at most five claims.
    assert 40 <= await store.claimed(record.id, "read", int(START)) <= 50


async def test_the_next_chunk_is_claimed_before_this_one_runs_out(db: Database) -> None:
    clock = Clock()
    record = await _registry(db, read_ops_per_minute=1_000)  # chunks of 20, top-up at 5 left
    store = RequestCountStore(db)
    throttle = RequestThrottle(store, clock=clock)
    assert await _served(throttle, record, "GET", 14) == 14
    assert await store.claimed(record.id, "read", int(START)) == 20
    assert await _served(throttle, record, "GET", 1) == 1
    assert await store.claimed(record.id, "read", int(START)) == 40, "claimed ahead"


async def test_the_default_registry_and_a_switched_off_throttle_do_not_count(
    db: Database,
) -> None:
    clock = Clock()
    main = await _registry(db, "main")
    store = RequestCountStore(db)
    throttle = RequestThrottle(store, default_registry="main", clock=clock)
    assert await _served(throttle, main, "PUT", 200) == 200
    assert await store.claimed(main.id, "write", int(START)) == 0
    small = await _registry(db, "small", write_ops_per_minute=1)
    off = RequestThrottle(store, enabled=False, clock=clock)
    assert await _served(off, small, "PUT", 5) == 5
    assert off.limits(small) == RateLimits(None, None)


async def test_refusals_are_reported_by_kind(db: Database) -> None:
    kinds: list[str] = []
    record = await _registry(db, write_ops_per_minute=1)
    throttle = RequestThrottle(RequestCountStore(db), clock=Clock(), on_refused=kinds.append)
    assert await _served(throttle, record, "POST", 3) == 1
    assert kinds == ["write", "write"]


async def test_the_login_lockout_holds_across_processes(db: Database) -> None:
    policy = LoginPolicy(max_failures=4, window_ms=60_000, lockout_ms=60_000)
    nodes = [LoginThrottle(max_failures=4, shared=LoginFailureStore(db, policy)) for _ in range(2)]

    async def wrong() -> None:
        return None

    for turn in range(4):
        assert await nodes[turn % 2].attempt("alice@10.0.0.1", wrong, locked="locked") is None
    for node in nodes:
        with pytest.raises(Throttled) as locked:
            await node.attempt("alice@10.0.0.1", wrong, locked="locked")
        assert 58 <= locked.value.retry_after <= 60

    async def right() -> str:
        return "alice"

    assert await nodes[0].attempt("bob@10.0.0.1", right, locked="locked") == "alice"
