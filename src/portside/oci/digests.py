"""Content digests (`algorithm:hex`), sha256 and sha512, and incremental hashing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import rehashes

from portside.oci.errors import DigestInvalid

__all__ = ["ALGORITHMS", "Digest", "Hasher", "new_hasher"]

# Hex lengths per algorithm, as the OCI image spec registers them.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
# rehashes, not hashlib: its state can be serialised (an upload continues on any node).
_FACTORIES: dict[str, Any] = {"sha256": rehashes.PySha256, "sha512": rehashes.PySha512}
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass(frozen=True, slots=True)
class Digest:
    """A verified-syntax content digest such as `sha256:e3b0...`."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse `algorithm:hex`, raising DigestInvalid for anything malformed or unsupported."""
        if len(text) > 256 or not _GRAMMAR.fullmatch(text):
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
        if algorithm not in ALGORITHMS:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class Hasher:
    """Incremental hashing whose state can be saved and restored (see `state`, `restore`)."""

    __slots__ = ("_h", "algorithm")

    def __init__(self, algorithm: str, state: bytes | None = None) -> None:
        factory = _FACTORIES.get(algorithm)
        if factory is None:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._h = factory() if state is None else factory.deserialize(state)

    def update(self, data: bytes) -> None:
        """Feed more bytes (releases the GIL, so large blocks hash on a worker thread)."""
        self._h.update(data)

    def digest(self) -> Digest:
        """The digest of everything fed so far (the state stays usable)."""
        snapshot = _FACTORIES[self.algorithm].deserialize(self.state())
        return Digest(self.algorithm, str(snapshot.finalize()))

    def state(self) -> bytes:
        """An opaque snapshot of the state, to continue in another process."""
        return bytes(self._h.serialize())

    @classmethod
    def restore(cls, algorithm: str, state: bytes) -> Hasher:
        """Continue from a snapshot made by `state`; DigestInvalid if it is not one."""
        try:
            return cls(algorithm, state)
        except (ValueError, TypeError) as exc:
            raise DigestInvalid(f"unusable hash state: {exc}") from None


def new_hasher(algorithm: str = "sha256") -> Hasher:
    """A fresh incremental hasher for one of the supported algorithms."""
    return Hasher(algorithm)
