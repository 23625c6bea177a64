"""Secrets: generating them, storing them as argon2id hashes, and checking them.

Hashing and verifying are CPU-bound synchronous calls; callers run them in a worker thread
through `SecretHasher.verify_in_thread` and `hash_in_thread`, which take their threads from a
limiter of their own (one per CPU): wrong passwords sent at once under many names or from many
addresses then queue among themselves, and never hold the process's shared thread pool, which
storage I/O needs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections import OrderedDict

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from argon2 import PasswordHasher, Type
from argon2.exceptions import Argon2Error

__all__ = [
    "SECRET_BYTES",
    "SecretHasher",
    "argon2_threads",
    "constant_time_equals",
    "new_secret",
]

SECRET_BYTES = 32
"""Random bytes in a generated secret (256 bits)."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# 62**43 > 2**256: 43 base62 digits hold any 32-byte value, so every secret has this length.
_SECRET_LENGTH = 43


# One limiter per event loop (a RunVar holds nothing until a loop sets it).
_ARGON2_LIMITER: RunVar[anyio.CapacityLimiter] = RunVar("portside_argon2_limiter")


def argon2_threads() -> int:
    """How many argon2 computations a process runs at once: one per CPU it may use."""
    affinity = getattr(os, "sched_getaffinity", None)
    return max(1, len(affinity(0)) if affinity is not None else (os.cpu_count() or 1))


def _argon2_limiter() -> anyio.CapacityLimiter:
    try:
        return _ARGON2_LIMITER.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(argon2_threads())
        _ARGON2_LIMITER.set(limiter)
        return limiter


def new_secret() -> str:
    """A new random secret: 32 bytes from `secrets`, as 43 base62 characters (no symbols)."""
    value = int.from_bytes(secrets.token_bytes(SECRET_BYTES), "big")
    digits: list[str] = []
    for _ in range(_SECRET_LENGTH):
        value, digit = divmod(value, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two strings in time independent of where they differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class SecretHasher:
    """argon2id hashes of secrets, with a bounded cache of successful verifications.

    A Basic-auth client sends the same secret with every request; paying argon2 on each one
    would make authentication the bottleneck. A verified `(hash, secret)` pair is remembered
    (the secret only as an HMAC under a per-instance random key, never in clear); a renewed
    secret has a new hash and so misses. Failures are never cached. Thread-safe.
    """

    def __init__(
        self,
        *,
        time_cost: int = 2,
        memory_cost: int = 19456,
        parallelism: int = 1,
        cache_size: int = 4096,
    ) -> None:
        """Build a hasher; the defaults are OWASP's minimum argon2id profile."""
        # OWASP Password Storage Cheat Sheet, minimum argon2id configuration: m=19 MiB, t=2, p=1.
        # Memory hardness is what resists GPU cracking; a single lane keeps the cost of one
        # verification predictable on small servers, and the cache below keeps repeated
        # Basic-auth requests cheap, so a stronger profile is not needed on the hot path.
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_key = secrets.token_bytes(32)

    def hash(self, secret: str) -> str:
        """The argon2id hash of `secret` in PHC string form (`$argon2id$v=19$...`)."""
        return self._hasher.hash(secret)

    def verify(self, encoded: str, secret: str) -> bool:
        """True if `secret` matches the hash `encoded`; False on mismatch or a malformed hash."""
        key = (encoded, hmac.digest(self._cache_key, secret.encode("utf-8"), hashlib.sha256))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return True
        if not encoded.startswith("$argon2id$"):
            return False
        try:
            self._hasher.verify(encoded, secret)
        except (Argon2Error, ValueError):
            return False
        if self._cache_size > 0:
            with self._lock:
                self._cache[key] = None
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return True

    async def verify_in_thread(self, encoded: str, secret: str) -> bool:
        """`verify` in a worker thread of argon2's own limiter (see the module docstring)."""
        return await anyio.to_thread.run_sync(
            self.verify, encoded, secret, limiter=_argon2_limiter()
        )

    async def hash_in_thread(self, secret: str) -> str:
        """`hash` in a worker thread of argon2's own limiter."""
        return await anyio.to_thread.run_sync(self.hash, secret, limiter=_argon2_limiter())

    def cached(self) -> int:
        """How many verified pairs the cache holds (for tests and metrics)."""
        with self._lock:
            return len(self._cache)
