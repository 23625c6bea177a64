"""Checking passwords: argon2 runs in worker threads of its own, never in the shared pool.

Every thread-offloaded call of a process (the filesystem driver's reads and writes among
them) shares anyio's default pool of 40 threads. Wrong passwords are counted per user name
and address, so a few names from a few addresses could fill that pool with argon2 and stall
every registry's storage; argon2 has its own small limiter instead.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import anyio
import pytest

from portside.auth.secrets import SecretHasher, argon2_threads
from portside.metadata.credentials import CredentialStore
from portside.metadata.records import CredentialRecord
from portside.services.access.logins import matching_secret

pytestmark = pytest.mark.anyio


class _SlowHasher(SecretHasher):
    """A hasher whose verification takes a while, counting how many run at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024)
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def verify(self, encoded: str, secret: str) -> bool:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1
        return False


class _OneSecret(CredentialStore):
    def __init__(self) -> None:
        pass

    async def of(self, owner_type: str, owner_id: str) -> list[CredentialRecord]:
        now = datetime.now(UTC)
        return [CredentialRecord(1, owner_type, owner_id, "password1", "$argon2id$x", now, None)]


async def test_argon2_leaves_the_shared_thread_pool_alone() -> None:
    hasher, store = _SlowHasher(), _OneSecret()
    shared = anyio.to_thread.current_default_thread_limiter()
    seen: list[float] = []

    async def guess() -> None:
        assert await matching_secret(store, hasher, "admin", "1", "wrong") is None

    async with anyio.create_task_group() as tasks:
        for _ in range(40):
            tasks.start_soon(guess)
        await anyio.sleep(0.02)
        seen.append(shared.borrowed_tokens)
    assert seen == [0]
    assert 1 <= hasher.most <= argon2_threads()
