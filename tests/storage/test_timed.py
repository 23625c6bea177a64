"""The timing wrapper: each call reported once with its outcome; a driver's extras pass through."""

from __future__ import annotations

import pytest

from portside.storage.errors import ObjectNotFound
from portside.storage.memory import MemoryDriver
from portside.storage.timed import TimedDriver

pytestmark = pytest.mark.anyio


class _Probed(MemoryDriver):
    """A memory driver with a readiness probe, as the object-store drivers have."""

    async def readiness(self) -> str:
        return "ok"


async def _one(data: bytes) -> object:
    yield data


async def test_calls_are_reported_with_their_outcome() -> None:
    heard: list[tuple[str, str]] = []
    driver = TimedDriver(MemoryDriver(), lambda op, outcome, seconds: heard.append((op, outcome)))
    await driver.upload_create("u")
    await driver.upload_append("u", 0, _one(b"abc"))  # type: ignore[arg-type]
    await driver.upload_commit("u", "blobs/k")
    assert await driver.stat("blobs/k") == 3
    with pytest.raises(ObjectNotFound):
        await driver.stat("blobs/missing")
    assert b"".join([chunk async for chunk in driver.read("blobs/k")]) == b"abc"
    assert heard == [
        ("upload_create", "ok"),
        ("upload_append", "ok"),
        ("upload_commit", "ok"),
        ("stat", "ok"),
        ("stat", "error"),
        ("read", "ok"),  # reported when the stream ends, not when it is opened
    ]


async def test_extras_of_the_wrapped_driver_pass_through() -> None:
    ignore = lambda op, outcome, seconds: None  # noqa: E731
    assert await TimedDriver(_Probed(), ignore).readiness() == "ok"
    assert not hasattr(TimedDriver(MemoryDriver(), ignore), "readiness")
