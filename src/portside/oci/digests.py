"""Content digests (`algorithm:hex`), sha256 and sha512, and incremental hashing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from portside.oci.errors import DigestInvalid

__all__ = ["ALGORITHMS", "Digest", "Hasher", "new_hasher"]

# Hex lengths per algorithm, as the OCI image spec registers them.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass(frozen=True, slots=True)
class Digest:
    """A verified-syntax content digest such as `sha256:e3b0...`."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse `algorithm:hex`, raising DigestInvalid for anything malformed or unsupported."""
        if len(text) > 256 or not _GRAMMAR.match(text):
            raise DigestInvalid(f"malformed digest {text[:80]!r}")
        algorithm, _, hex_part = text.partition(":")
        expected = ALGORITHMS.get(algorithm)
        if expected is None:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
        if len(hex_part) != expected or not all(c in "0123456789abcdef" for c in hex_part):
            raise DigestInvalid(f"{algorithm} digest must be {expected} lowercase hex characters")
        return cls(algorithm, hex_part)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """Digest of an in-memory byte string."""
        return cls(algorithm, new_hasher(algorithm).update_and_hex(data))

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class Hasher:
    """A thin wrapper over hashlib so callers never name algorithms themselves."""

    __slots__ = ("_h", "algorithm")

    def __init__(self, algorithm: str) -> None:
        if algorithm not in ALGORITHMS:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)

    def update(self, data: bytes) -> None:
        """Feed more bytes."""
        self._h.update(data)

    def update_and_hex(self, data: bytes) -> str:
        """Feed bytes and return the hex digest so far."""
        self._h.update(data)
        return self._h.hexdigest()

    def digest(self) -> Digest:
        """The digest of everything fed so far."""
        return Digest(self.algorithm, self._h.hexdigest())

    def copy(self) -> Hasher:
        """An independent copy of the current state."""
        clone = Hasher.__new__(Hasher)
        clone.algorithm = self.algorithm
        clone._h = self._h.copy()
        return clone


def new_hasher(algorithm: str = "sha256") -> Hasher:
    """A fresh incremental hasher for one of the supported algorithms."""
    return Hasher(algorithm)
