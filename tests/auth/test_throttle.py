"""Login throttling with a fake clock."""

from __future__ import annotations

import anyio
import pytest

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
