"""Issuing and verifying Portside's JWTs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import string
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from portside.auth.errors import Unauthorized
from portside.auth.tokens import InvalidToken, SigningKey, TokenService

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://registry.example"
AUD = "registry.example"


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def es_key() -> SigningKey:
    """An ES256 key."""
    return SigningKey.generate("ES256", now=NOW)


@pytest.fixture(scope="module")
def rs_key() -> SigningKey:
    """An RS256 key."""
    return SigningKey.generate("RS256", now=NOW)


@pytest.fixture
def clock() -> Clock:
    """The service's clock."""
    return Clock()


def service(clock: Clock, *keys: SigningKey, issuer: str = ISSUER) -> TokenService:
    """A token service over `keys`."""
    return TokenService(issuer=issuer, keys=keys, clock=clock)


def issue(tokens: TokenService, **claims: object) -> str:
    """A five-minute access token for alice."""
    return tokens.issue(subject="alice", audience=AUD, lifetime=timedelta(minutes=5), claims=claims)


def b64(data: object) -> str:
    """Compact JSON, base64url without padding."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    """The decoded header and payload, and the signature segment."""
    header, payload, signature = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
        signature,
    )


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_round_trip(algorithm: Literal["ES256", "RS256"], clock: Clock) -> None:
    key = SigningKey.generate(algorithm, now=NOW)
    tokens = service(clock, key)
    access = [{"type": "repository", "name": "a", "actions": ["pull"]}]
    token = issue(tokens, access=access, grant_type="access_token")
    claims = tokens.verify(token, audience=AUD, kind="access_token")
    stamp = int(NOW.timestamp())
    assert claims["sub"] == "alice"
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUD
    assert claims["access"] == access
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (stamp, stamp, stamp + 300)
    assert isinstance(claims["jti"], str) and len(claims["jti"]) == 32
    header, _, _ = segments(token)
    assert header == {"alg": algorithm, "kid": key.kid, "typ": "JWT"}


def test_jti_is_unique(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    assert len({tokens.verify(issue(tokens))["jti"] for _ in range(10)}) == 10


def test_payload_is_compact_json(clock: Clock, es_key: SigningKey) -> None:
    token = issue(service(clock, es_key), x=["a", "b"])
    raw = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    assert b" " not in raw


def test_kid_is_the_jwk_thumbprint(es_key: SigningKey, rs_key: SigningKey) -> None:
    for key in (es_key, rs_key):
        jwk = key.public_jwk()
        assert jwk["kid"] == key.kid and jwk["use"] == "sig" and jwk["alg"] == key.algorithm
        members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}[str(jwk["kty"])]
        canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).digest()
        assert key.kid == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_jwks_verifies_with_pyjwt(clock: Clock, es_key: SigningKey, rs_key: SigningKey) -> None:
    tokens = service(clock, rs_key, es_key)
    jwks = tokens.jwks()
    keys = jwks["keys"]
    assert isinstance(keys, list) and [k["kid"] for k in keys] == [rs_key.kid, es_key.kid]
    token = issue(tokens)
    public = jwt.PyJWK(keys[0])
    claims = jwt.decode(
        token, public, algorithms=["RS256"], audience=AUD, options={"verify_exp": False}
    )
    assert claims["sub"] == "alice"


def test_invalid_token_is_unauthorized() -> None:
    assert issubclass(InvalidToken, Unauthorized)


def expect_invalid(tokens: TokenService, token: str, reason: str, **kwargs: str) -> None:
    """verify() refuses `token` with a message containing `reason`, never echoing it."""
    with pytest.raises(InvalidToken, match=reason) as caught:
        tokens.verify(token, **kwargs)
    assert token not in caught.value.message
    assert len(caught.value.message) < 80


def test_tampered_payload(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    header, payload, signature = issue(tokens).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "mallory"
    expect_invalid(tokens, f"{header}.{b64(claims)}.{signature}", "signature")


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_tampered_signature(algorithm: Literal["ES256", "RS256"], clock: Clock) -> None:
    tokens = service(clock, SigningKey.generate(algorithm, now=NOW))
    header, payload, signature = issue(tokens).split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    expect_invalid(tokens, f"{header}.{payload}.{flipped}", "signature|invalid")


def test_alg_none_is_refused(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    _, payload, _ = segments(issue(tokens))
    for alg in ("none", "None", "NONE"):
        forged = f"{b64({'alg': alg, 'kid': es_key.kid, 'typ': 'JWT'})}.{b64(payload)}."
        expect_invalid(tokens, forged, "algorithm")


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_hs256_with_the_public_key_is_refused(
    algorithm: Literal["ES256", "RS256"], clock: Clock
) -> None:
    key = SigningKey.generate(algorithm, now=NOW)
    tokens = service(clock, key)
    _, payload, _ = segments(issue(tokens))
    pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64({"alg": "HS256", "kid": key.kid, "typ": "JWT"})
    body = b64(payload)
    mac = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    expect_invalid(tokens, f"{header}.{body}.{signature}", "algorithm")


def test_alg_must_match_the_key(clock: Clock, es_key: SigningKey, rs_key: SigningKey) -> None:
    tokens = service(clock, es_key, rs_key)
    _, payload, signature = issue(service(clock, rs_key)).split(".")
    forged_header = b64({"alg": "RS256", "kid": es_key.kid, "typ": "JWT"})
    expect_invalid(tokens, f"{forged_header}.{payload}.{signature}", "does not match")


def test_expiry_with_leeway(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    token = issue(tokens)
    clock.now = NOW + timedelta(minutes=5, seconds=29)
    assert tokens.verify(token)["sub"] == "alice"
    clock.now = NOW + timedelta(minutes=5, seconds=30)
    expect_invalid(tokens, token, "expired")


def test_not_yet_valid(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    token = issue(tokens)
    clock.now = NOW - timedelta(seconds=30)
    assert tokens.verify(token)["sub"] == "alice"
    clock.now = NOW - timedelta(seconds=31)
    expect_invalid(tokens, token, "not yet valid")


def test_wrong_audience(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    token = issue(tokens)
    expect_invalid(tokens, token, "audience", audience="other.example")
    assert tokens.verify(token)["aud"] == AUD


def test_wrong_issuer(clock: Clock, es_key: SigningKey) -> None:
    token = issue(service(clock, es_key, issuer="https://other.example"))
    expect_invalid(service(clock, es_key), token, "issuer")


def test_unknown_kid(clock: Clock, es_key: SigningKey) -> None:
    token = issue(service(clock, SigningKey.generate(now=NOW)))
    expect_invalid(service(clock, es_key), token, "unknown signing key")


def test_missing_kid(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    _, payload, _ = segments(issue(tokens))
    token = jwt.encode(payload, es_key.private_key, algorithm="ES256")
    expect_invalid(tokens, token, "unknown signing key")


def test_kind_mismatch(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    token = issue(tokens, grant_type="refresh_token")
    assert tokens.verify(token, kind="refresh_token")["grant_type"] == "refresh_token"
    expect_invalid(tokens, token, "kind", kind="access_token")
    expect_invalid(tokens, issue(tokens), "kind", kind="access_token")


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat"])
def test_required_claims(claim: str, clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    _, payload, _ = segments(issue(tokens))
    del payload[claim]
    token = jwt.encode(payload, es_key.private_key, algorithm="ES256", headers={"kid": es_key.kid})
    expect_invalid(tokens, token, claim if claim != "iss" else "iss|issuer")


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "....", "!!.!!.!!", "e30.e30.", "W10.e30.e30", "x" * 20000],
)
def test_junk_tokens(token: str, clock: Clock, es_key: SigningKey) -> None:
    with pytest.raises(InvalidToken):
        service(clock, es_key).verify(token)


def test_oversized_token(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    token = issue(tokens, padding="x" * 17000)
    expect_invalid(tokens, token, "malformed")


def test_key_rotation(clock: Clock, es_key: SigningKey, rs_key: SigningKey) -> None:
    old_token = issue(service(clock, es_key))
    rotated = service(clock, rs_key, es_key)
    assert rotated.verify(old_token)["sub"] == "alice"
    new_token = issue(rotated)
    assert segments(new_token)[0]["kid"] == rs_key.kid
    removed = service(clock, rs_key)
    expect_invalid(removed, old_token, "unknown signing key")
    assert removed.verify(new_token)["sub"] == "alice"


def test_issue_refuses_what_would_break_the_sdk(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    for bad in ("a>b", "a?b", "a~b", "a\x7fb"):
        with pytest.raises(ValueError):
            issue(tokens, note=bad)
        with pytest.raises(ValueError):
            tokens.issue(subject=bad, audience=AUD, lifetime=timedelta(minutes=1), claims={})
    with pytest.raises(ValueError):
        issue(tokens, nested=[{"k?": "v"}])
    with pytest.raises(ValueError):
        issue(tokens, exp=1)
    with pytest.raises(ValueError):
        tokens.issue(subject="a", audience=AUD, lifetime=timedelta(0), claims={})


def test_sdk_style_exp_decoding(clock: Clock, es_key: SigningKey) -> None:
    """azure-containerregistry reads `exp` with standard base64 and sloppy padding."""
    tokens = service(clock, es_key)
    alphabet = "".join(c for c in string.printable if c not in ">?~") + "éü日本\u2028"
    rng = random.Random(7)

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))

    for i in range(300):
        lifetime = timedelta(seconds=rng.randrange(1, 10**6))
        claims: dict[str, object] = {
            text(): text(),
            "access": [{"type": "repository", "name": text(), "actions": [text(), text()]}],
        }
        token = tokens.issue(subject=text(), audience=text(), lifetime=lifetime, claims=claims)
        value = token.split(".")[1]
        value += "=" * (len(value) % 4)
        decoded = json.loads(base64.b64decode(value))
        assert decoded["exp"] == int(NOW.timestamp()) + int(lifetime.total_seconds()), i


def test_sdk_decoding_would_break_on_refused_characters() -> None:
    """The refusal guards a real failure: '>' at the right offset yields '-' in base64url."""
    for raw in (b'{"a":"xx>","exp":1}', b'{"a":"xx?","exp":1}', b'{"a":"xx~","exp":1}'):
        value = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        assert "-" in value or "_" in value
        value += "=" * (len(value) % 4)
        try:
            decoded: bytes | None = base64.b64decode(value)
        except binascii.Error:
            decoded = None
        assert decoded != raw


def test_service_needs_keys() -> None:
    with pytest.raises(ValueError):
        TokenService(issuer=ISSUER, keys=[])
    key = SigningKey.generate(now=NOW)
    with pytest.raises(ValueError):
        TokenService(issuer=ISSUER, keys=[key, key])


def test_key_algorithm_must_fit(es_key: SigningKey) -> None:
    wrong = SigningKey(es_key.kid, "RS256", es_key.private_pem, NOW)
    with pytest.raises(ValueError):
        _ = wrong.private_key


def test_a_remembered_token_still_expires(clock: Clock, es_key: SigningKey) -> None:
    # The second use finds the checked signature remembered: times are checked again anyway.
    tokens = service(clock, es_key)
    token = issue(tokens, grant_type="access_token")
    assert tokens.verify(token, audience=AUD)["sub"] == "alice"
    clock.now = NOW + timedelta(minutes=5, seconds=29)
    assert tokens.verify(token, audience=AUD)["sub"] == "alice"
    clock.now = NOW + timedelta(minutes=5, seconds=30)
    expect_invalid(tokens, token, "expired")


def test_a_remembered_token_is_checked_for_its_kind_and_audience(
    clock: Clock, es_key: SigningKey
) -> None:
    tokens = service(clock, es_key)
    token = issue(tokens, grant_type="refresh_token")
    assert tokens.verify(token, kind="refresh_token")["sub"] == "alice"
    with pytest.raises(InvalidToken, match="wrong kind"):
        tokens.verify(token, kind="access_token")
    with pytest.raises(InvalidToken, match="another audience"):
        tokens.verify(token, audience="elsewhere.example")


def test_remembered_claims_are_not_shared_with_callers(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    token = issue(tokens)
    tokens.verify(token)["sub"] = "mallory"
    assert tokens.verify(token)["sub"] == "alice"


def test_a_forged_token_is_never_remembered(clock: Clock, es_key: SigningKey) -> None:
    tokens = service(clock, es_key)
    header, _, signature = issue(tokens).split(".")
    forged = ".".join((header, b64({**segments(issue(tokens))[1], "sub": "mallory"}), signature))
    for _ in range(2):
        expect_invalid(tokens, forged, "signature")
