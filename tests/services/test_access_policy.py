"""Logins under load: attempts are counted before their slow verification."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest

from portside.auth.errors import Throttled, Unauthorized
from portside.auth.secrets import SecretHasher
from portside.config import Settings
from portside.runtime.root import Runtime
from tests.api.identities import World, make_settings, seed_database

pytestmark = pytest.mark.anyio


class SlowCountingHasher(SecretHasher):
    """A cheap hasher whose verifications take a while, and are counted."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, cache_size=0)
        self.calls = 0
        self._lock = threading.Lock()

    def verify(self, encoded: str, secret: str) -> bool:
        """Count the call, wait as argon2 would, then verify."""
        with self._lock:
            self.calls += 1
        time.sleep(0.05)
        return super().verify(encoded, secret)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A migrated SQLite database, credentials required."""
    return make_settings(tmp_path)


async def _logins(settings: Settings, password: str, count: int) -> tuple[list[str], int]:
    """`count` logins as `rw-token` at once from one address: outcomes, verifications."""
    hasher = SlowCountingHasher()
    outcomes: list[str] = []
    async with Runtime(settings, hasher=hasher) as runtime:
        await seed_database(runtime.database)
        registry = await runtime.stores.registries.get("contoso")
        assert registry is not None

        async def attempt() -> None:
            try:
                await runtime.policy.login(registry, "rw-token", password, client="192.0.2.1")
                outcomes.append("ok")
            except (Unauthorized, Throttled) as error:
                outcomes.append(type(error).__name__)

        async with anyio.create_task_group() as tasks:
            for _ in range(count):
                tasks.start_soon(attempt)
    return outcomes, hasher.calls


async def test_concurrent_wrong_passwords_verify_at_most_the_limit(settings: Settings) -> None:
    outcomes, verifications = await _logins(settings, "wrong", 40)
    assert verifications == settings.login_max_failures == 10
    assert outcomes.count("Unauthorized") == 10
    assert outcomes.count("Throttled") == 30


async def test_concurrent_right_passwords_all_pass(settings: Settings) -> None:
    outcomes, _ = await _logins(settings, World.login("rw-token")[1], 25)
    assert outcomes == ["ok"] * 25
