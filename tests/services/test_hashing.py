"""Hashing a stream as it passes: every chunk passed on unchanged, every byte hashed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from portside.oci.digests import new_hasher
from portside.services.content import hashing as hashing_module
from portside.services.content.hashing import hash_stream, hashing

pytestmark = pytest.mark.anyio


async def _pieces(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_chunks_pass_unchanged_and_are_all_hashed_when_the_last_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hashing_module, "_BATCH", 1000)  # many batches, and a short last one
    parts = [os.urandom(1 + index * 37 % 700) for index in range(200)]
    parts.insert(50, b"")  # an empty chunk is dropped, nothing else
    hasher = new_hasher()
    seen = [chunk async for chunk in hashing(_pieces(parts), hasher)]
    assert seen == [part for part in parts if part]
    assert str(hasher.digest()) == "sha256:" + hashlib.sha256(b"".join(parts)).hexdigest()


async def test_hash_stream_of_nothing_is_the_empty_digest() -> None:
    hasher = await hash_stream(_pieces([]), "sha256")
    assert str(hasher.digest()) == "sha256:" + hashlib.sha256(b"").hexdigest()
