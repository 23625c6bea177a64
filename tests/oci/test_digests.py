"""Digest parsing and hashing."""

from __future__ import annotations

import hashlib

import pytest

from portside.oci.digests import Digest, Hasher, new_hasher
from portside.oci.errors import DigestInvalid

SHA256_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_parse_round_trips() -> None:
    digest = Digest.parse(SHA256_EMPTY)
    assert digest.algorithm == "sha256"
    assert str(digest) == SHA256_EMPTY


def test_sha512_is_supported() -> None:
    text = "sha512:" + hashlib.sha512(b"x").hexdigest()
    assert Digest.parse(text) == Digest.of(b"x", "sha512")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sha256",
        "sha256:",
        "sha256:abc",
        "md5:" + "0" * 32,
        "sha256:" + "G" * 64,
        "SHA256:" + "0" * 64,
        "sha256:" + "A" * 64,
        "sha256:" + "0" * 65,
        "sha512:" + "0" * 64,
        "sha256:" + "0" * 64 + "/x",
        "x" * 300,
    ],
)
def test_malformed_digests_are_rejected(text: str) -> None:
    with pytest.raises(DigestInvalid):
        Digest.parse(text)


def test_incremental_hashing_matches_one_shot() -> None:
    hasher = new_hasher()
    hasher.update(b"hello ")
    snapshot = Hasher.restore("sha256", hasher.state())
    hasher.update(b"world")
    assert hasher.digest() == Digest.of(b"hello world")
    assert snapshot.digest() == Digest.of(b"hello ")
