"""What tokens say about an identity, read back and written out."""

from __future__ import annotations

import pytest

from portside.auth.claims import (
    identity_claims,
    identity_of,
    refresh_claims,
    secret_claim,
    secret_fingerprint,
)
from portside.auth.errors import Unauthorized
from portside.auth.identity import Identity


def test_identity_round_trips_through_claims() -> None:
    identity = Identity("federated", "alice", ("devs", "ops"))
    claims = {"sub": identity.subject, **identity_claims(identity)}
    assert claims == {"sub": "alice", "kind": "federated", "groups": ["devs", "ops"]}
    assert identity_of(claims) == identity


def test_identity_without_groups_carries_none() -> None:
    assert identity_claims(Identity("token", "ci")) == {"kind": "token"}


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"sub": "x"},
        {"kind": "token"},
        {"kind": "wizard", "sub": "x"},
        {"kind": "token", "sub": 1},
        {"kind": "token", "sub": "x", "groups": "devs"},
    ],
)
def test_claims_naming_no_identity_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(Unauthorized):
        identity_of(claims)


def test_refresh_claims_bind_the_secret_when_there_is_one() -> None:
    identity = Identity("sp", "app")
    assert refresh_claims(7, identity, "f" * 32) == {
        "grant_type": "refresh_token",
        "reg": 7,
        "kind": "sp",
        "sec": "f" * 32,
    }
    assert "sec" not in refresh_claims(7, identity, None)
    assert secret_claim(None) == {}


def test_secret_fingerprint_is_stable_and_short() -> None:
    one = secret_fingerprint("$argon2id$v=19$one")
    assert one == secret_fingerprint("$argon2id$v=19$one")
    assert one != secret_fingerprint("$argon2id$v=19$two")
    assert len(one) == 32
