"""Generated secrets, argon2id hashing and the verification cache."""

from __future__ import annotations

import threading
from typing import Literal

import pytest
from argon2 import PasswordHasher

from portside.auth.secrets import SecretHasher, constant_time_equals, new_secret


@pytest.fixture
def hasher() -> SecretHasher:
    """A cheap hasher: the tests check behaviour, not cost."""
    return SecretHasher(time_cost=1, memory_cost=1024, cache_size=4)


class CountingHasher(PasswordHasher):
    """An argon2 hasher that counts verifications."""

    calls = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        """Count, then verify."""
        self.calls += 1
        return super().verify(hash, password)


def counting(hasher: SecretHasher, monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    """Replace the hasher's argon2 instance with a counting one of the same parameters."""
    inner = hasher._hasher
    spy = CountingHasher(
        time_cost=inner.time_cost,
        memory_cost=inner.memory_cost,
        parallelism=inner.parallelism,
        hash_len=inner.hash_len,
        salt_len=inner.salt_len,
        type=inner.type,
    )
    monkeypatch.setattr(hasher, "_hasher", spy)
    return spy


def test_new_secret_shape() -> None:
    values = {new_secret() for _ in range(200)}
    assert len(values) == 200
    for value in values:
        assert len(value) == 43
        assert value.isascii() and value.isalnum()


def test_new_secret_uses_the_whole_alphabet() -> None:
    seen = set("".join(new_secret() for _ in range(200)))
    assert len(seen) == 62


def test_default_profile_is_owasp_minimum() -> None:
    inner = SecretHasher()._hasher
    assert (inner.time_cost, inner.memory_cost, inner.parallelism) == (2, 19456, 1)


def test_hash_and_verify(hasher: SecretHasher) -> None:
    encoded = hasher.hash("s3cret")
    assert encoded.startswith("$argon2id$")
    assert "s3cret" not in encoded
    assert hasher.verify(encoded, "s3cret")
    assert not hasher.verify(encoded, "s3cret ")
    assert not hasher.verify(encoded, "")


def test_hashes_are_salted(hasher: SecretHasher) -> None:
    assert hasher.hash("same") != hasher.hash("same")


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "garbage",
        "$argon2id$",
        "$argon2id$v=19$m=1024,t=1,p=1$bad$bad",
        "$argon2i$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "plaintext-password",
    ],
)
def test_malformed_or_foreign_hashes_are_false(hasher: SecretHasher, encoded: str) -> None:
    assert hasher.verify(encoded, "plaintext-password") is False


def test_success_is_cached(hasher: SecretHasher, monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = hasher.hash("pw")
    spy = counting(hasher, monkeypatch)
    assert hasher.verify(encoded, "pw")
    assert hasher.verify(encoded, "pw")
    assert hasher.verify(encoded, "pw")
    assert spy.calls == 1
    assert hasher.cached() == 1


def test_failures_are_not_cached(hasher: SecretHasher, monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = hasher.hash("pw")
    spy = counting(hasher, monkeypatch)
    assert not hasher.verify(encoded, "wrong")
    assert not hasher.verify(encoded, "wrong")
    assert spy.calls == 2
    assert hasher.cached() == 0
    # A cached success for one secret says nothing about another.
    assert hasher.verify(encoded, "pw")
    assert not hasher.verify(encoded, "wrong")


def test_renewed_hash_misses_the_cache(
    hasher: SecretHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = hasher.hash("old")
    assert hasher.verify(old, "old")
    new = hasher.hash("new")
    spy = counting(hasher, monkeypatch)
    assert not hasher.verify(new, "old")
    assert hasher.verify(new, "new")
    assert spy.calls == 2


def test_cache_is_bounded(hasher: SecretHasher, monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = {f"pw{i}": hasher.hash(f"pw{i}") for i in range(6)}
    for secret, value in encoded.items():
        assert hasher.verify(value, secret)
    assert hasher.cached() == 4
    spy = counting(hasher, monkeypatch)
    assert hasher.verify(encoded["pw5"], "pw5")
    assert spy.calls == 0
    assert hasher.verify(encoded["pw0"], "pw0")
    assert spy.calls == 1


def test_cache_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = SecretHasher(time_cost=1, memory_cost=1024, cache_size=0)
    encoded = hasher.hash("pw")
    assert hasher.verify(encoded, "pw")
    assert hasher.cached() == 0


def test_verify_is_thread_safe(hasher: SecretHasher) -> None:
    encoded = [hasher.hash(f"pw{i}") for i in range(8)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(8):
                assert hasher.verify(encoded[(i + n) % 8], f"pw{(i + n) % 8}")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert hasher.cached() == 4


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "ab")
    assert constant_time_equals("é", "é")
    assert not constant_time_equals("é", "e")
