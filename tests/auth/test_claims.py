"""What tokens say about an identity, read back and written out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portside.auth.claims import (
    identity_claims,
    identity_of,
    refresh_claims,
    secret_claim,
    secret_fingerprint,
    session_end_of,
)
from portside.auth.errors import Unauthorized
from portside.auth.identity import Identity


def test_identity_round_trips_through_claims() -> None:
    identity = Identity("federated", "alice", ("devs", "ops"), issuer="https://idp.example")
    claims = {"sub": identity.subject, **identity_claims(identity)}
    assert claims == {
        "sub": "alice",
        "kind": "federated",
        "groups": ["devs", "ops"],
        "idp": "https://idp.example",
    }
    assert identity_of(claims) == identity


def test_federated_identities_and_only_they_name_an_issuer() -> None:
    with pytest.raises(ValueError, match="issuer"):
        Identity("federated", "alice")
    with pytest.raises(ValueError, match="issuer"):
        Identity("sp", "app", issuer="https://idp.example")


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
        # Tokens minted before subjects were bound to their issuer.
        {"kind": "federated", "sub": "x", "groups": ["devs"]},
        {"kind": "federated", "sub": "x", "idp": 7},
        {"kind": "token", "sub": "x", "idp": "https://idp.example"},
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


def test_refresh_claims_carry_the_end_of_the_session() -> None:
    identity = Identity("federated", "alice", issuer="https://idp.example")
    ends = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    claims = refresh_claims(7, identity, None, ends)
    assert claims["sxp"] == int(ends.timestamp())
    assert session_end_of(claims) == ends
    assert session_end_of(refresh_claims(7, Identity("sp", "app"), None)) is None


@pytest.mark.parametrize("sxp", [None, "soon", 1.5, True])
def test_federated_refresh_claims_without_a_session_end_are_refused(sxp: object) -> None:
    claims: dict[str, object] = {"kind": "federated", "sub": "x", "idp": "https://idp.example"}
    if sxp is not None:
        claims["sxp"] = sxp
    with pytest.raises(Unauthorized):
        session_end_of(claims)


def test_secret_fingerprint_is_stable_and_short() -> None:
    one = secret_fingerprint("$argon2id$v=19$one")
    assert one == secret_fingerprint("$argon2id$v=19$one")
    assert one != secret_fingerprint("$argon2id$v=19$two")
    assert len(one) == 32
