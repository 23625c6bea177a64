"""Login throttling with a fake clock."""

from __future__ import annotations

import anyio
import pytest

from portside.auth.errors import Throttled
from portside.auth.throttle import LoginThrottle


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A fake monotonic clock."""
    return Clock()


def throttle(clock: Clock, **kwargs: float) -> LoginThrottle:
    """A throttle of 3 failures per 60 s, locking for 30 s."""
    options: dict[str, float] = {"max_failures": 3, "window_seconds": 60, "lockout_seconds": 30}
    options.update(kwargs)
    return LoginThrottle(
        max_failures=int(options["max_failures"]),
        window_seconds=options["window_seconds"],
        lockout_seconds=options["lockout_seconds"],
        max_keys=int(options.get("max_keys", 100)),
        clock=clock,
    )


def test_locks_after_max_failures(clock: Clock) -> None:
    t = throttle(clock)
    for _ in range(2):
        t.failed("alice")
        assert t.retry_after("alice") is None
    t.failed("alice")
    assert t.retry_after("alice") == 30
    assert t.retry_after("bob") is None
    clock.now += 10
    assert t.retry_after("alice") == 20


def test_lock_expires(clock: Clock) -> None:
    t = throttle(clock)
    for _ in range(3):
        t.failed("alice")
    clock.now += 30
    assert t.retry_after("alice") is None
    # A fresh start: one more failure does not lock again.
    t.failed("alice")
    assert t.retry_after("alice") is None


def test_failures_outside_the_window_are_forgotten(clock: Clock) -> None:
    t = throttle(clock)
    t.failed("alice")
    t.failed("alice")
    clock.now += 61
    t.failed("alice")
    assert t.retry_after("alice") is None
    t.failed("alice")
    assert t.retry_after("alice") is None
    t.failed("alice")
    assert t.retry_after("alice") == 30


def test_failures_during_lockout_do_not_extend_it(clock: Clock) -> None:
    t = throttle(clock)
    for _ in range(3):
        t.failed("alice")
    clock.now += 20
    t.failed("alice")
    assert t.retry_after("alice") == 10


def test_success_clears(clock: Clock) -> None:
    t = throttle(clock)
    t.failed("alice")
    t.failed("alice")
    t.succeeded("alice")
    t.failed("alice")
    t.failed("alice")
    assert t.retry_after("alice") is None
    assert len(t) == 1
    t.succeeded("alice")
    assert len(t) == 0


def test_memory_is_bounded(clock: Clock) -> None:
    t = throttle(clock, max_failures=1, max_keys=3)
    for key in ("a", "b", "c", "d"):
        t.failed(key)
    assert len(t) == 3
    assert t.retry_after("a") is None
    assert t.retry_after("d") == 30


def test_expired_lock_is_dropped(clock: Clock) -> None:
    t = throttle(clock, max_failures=1)
    t.failed("a")
    clock.now += 31
    assert t.retry_after("a") is None
    assert len(t) == 0


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        LoginThrottle(max_failures=0)


@pytest.mark.anyio
async def test_attempts_count_before_they_are_checked(clock: Clock) -> None:
    t = throttle(clock)
    for _ in range(3):
        assert await t.reserve("alice") is None
    # Three checks in flight take every place: a fourth waits for their outcome.
    outcome: list[float | None] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: _reserve_into(t, "alice", outcome))
        await anyio.sleep(0.1)
        assert outcome == []
        assert await t.reserve("bob") is None
        for _ in range(3):
            t.failed("alice")
    assert outcome == [30]


@pytest.mark.anyio
async def test_a_success_lets_waiting_attempts_go_ahead(clock: Clock) -> None:
    t = throttle(clock)
    for _ in range(3):
        assert await t.reserve("alice") is None
    outcome: list[float | None] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: _reserve_into(t, "alice", outcome))
        await anyio.sleep(0.1)
        t.succeeded("alice")
    assert outcome == [None]
    # Attempts that were in flight and fail later count again from zero.
    t.failed("alice")
    t.failed("alice")
    assert t.retry_after("alice") is None


async def _reserve_into(t: LoginThrottle, key: str, outcome: list[float | None]) -> None:
    outcome.append(await t.reserve(key))


class FakeShared:
    """Shared counts in memory, as the database keeps them (max 2 places, no windows)."""

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.asked = 0

    async def reserve(self, key: str, now_ms: int) -> int | None:
        self.asked += 1
        if self.failures.get(key, 0) >= 2:
            return 45_000
        if self.failures.get(key, 0) + self.pending.get(key, 0) >= 2:
            return 0
        self.pending[key] = self.pending.get(key, 0) + 1
        return None

    async def failed(self, key: str, now_ms: int) -> bool:
        self.pending[key] -= 1
        self.failures[key] = self.failures.get(key, 0) + 1
        return self.failures[key] >= 2

    async def succeeded(self, key: str) -> None:
        self.pending.pop(key, None)
        self.failures.pop(key, None)


@pytest.mark.anyio
async def test_shared_counts_take_over_and_never_see_the_key() -> None:
    shared = FakeShared()
    failures: list[int] = []
    t = LoginThrottle(max_failures=2, shared=shared, on_failure=lambda: failures.append(1))

    async def wrong() -> str | None:
        return None

    for _ in range(2):
        assert await t.attempt("alice@10.0.0.1", wrong, locked="locked") is None
    with pytest.raises(Throttled) as refused:
        await t.attempt("alice@10.0.0.1", wrong, locked="locked")
    assert refused.value.retry_after == 45
    assert len(failures) == 2
    assert len(t) == 0, "nothing is counted in this process"
    # The key reaches the shared counts as a SHA-256, never as a name and an address.
    assert all(len(key) == 64 and "alice" not in key for key in shared.failures)


@pytest.mark.anyio
async def test_shared_attempts_wait_for_those_in_flight_and_settle_when_cancelled() -> None:
    shared = FakeShared()
    t = LoginThrottle(max_failures=2, shared=shared)
    release = anyio.Event()

    async def slow() -> str | None:
        await release.wait()
        return "alice"

    results: list[str | None] = []

    async def attempt() -> None:
        results.append(await t.attempt("alice", slow, locked="locked"))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(attempt)
        tasks.start_soon(attempt)
        await anyio.sleep(0.05)
        tasks.start_soon(attempt)  # every place is in flight: it waits
        await anyio.sleep(0.2)
        assert results == [] and shared.asked >= 3
        release.set()
    assert results == ["alice"] * 3
    # A check cut short by cancellation is settled (as failed), not left holding a place.
    with anyio.move_on_after(0.05):
        await t.attempt("bob", anyio.Event().wait, locked="locked")  # type: ignore[arg-type]
    key = next(key for key in shared.failures)
    assert shared.failures[key] == 1 and shared.pending[key] == 0
