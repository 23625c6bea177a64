"""Verifying tokens of trusted external OIDC issuers against their JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from portside.auth.federation import FederatedIdentity, FederatedVerifier, TrustedIssuer
from portside.auth.tokens import InvalidToken

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ISSUER = "https://login.example/tenant-1/v2.0"
AUD = "api://portside"
JWKS_URL = "https://login.example/tenant-1/keys"


class Issuer:
    """A test identity provider with its own RSA keys."""

    def __init__(self, issuer: str = ISSUER, kids: tuple[str, ...] = ("k1",)) -> None:
        self.issuer = issuer
        self.keys = {
            kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in kids
        }

    def add_key(self, kid: str) -> None:
        """Publish another key (a rotation at the provider)."""
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        """The provider's published keys."""
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    def token(self, kid: str = "k1", *, header: dict[str, Any] | None = None, **claims: Any) -> str:
        """A token signed with key `kid`; claims override the defaults."""
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "ci-job",
            "aud": AUD,
            "iat": int(NOW.timestamp()),
            "nbf": int(NOW.timestamp()),
            "exp": int((NOW + timedelta(hours=1)).timestamp()),
            "groups": ["builders", "readers"],
            "tid": "t1",
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, self.keys[kid], algorithm="RS256", headers={"kid": kid, **(header or {})}
        )


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def idp() -> Issuer:
    """The trusted provider."""
    return Issuer()


@pytest.fixture
def clock() -> Clock:
    """The verifier's clock."""
    return Clock()


@pytest.fixture
def jwks_file(idp: Issuer, tmp_path: Path) -> Path:
    """The provider's JWKS, written to a file."""
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(idp.jwks()))
    return path


@pytest.fixture
def verifier(jwks_file: Path, clock: Clock) -> Iterator[FederatedVerifier]:
    """A verifier trusting the provider through its JWKS file."""
    yield FederatedVerifier(
        [TrustedIssuer(issuer=ISSUER, audience=AUD, jwks_file=jwks_file, tenant="t1")],
        clock=clock,
    )


@pytest.mark.anyio
async def test_valid_token(verifier: FederatedVerifier, idp: Issuer) -> None:
    identity = await verifier.verify(idp.token(), tenant="t1")
    expires = NOW + timedelta(hours=1)
    assert identity == FederatedIdentity(ISSUER, "ci-job", ("builders", "readers"), "t1", expires)
    await verifier.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(("groups", "expected"), [("one", ("one",)), (None, ()), ([], ())])
async def test_group_shapes(
    verifier: FederatedVerifier, idp: Issuer, groups: Any, expected: tuple[str, ...]
) -> None:
    identity = await verifier.verify(idp.token(groups=groups))
    assert identity.groups == expected


@pytest.mark.anyio
@pytest.mark.parametrize("groups", [[1], {"a": 1}, 5, [["nested"]]])
async def test_malformed_groups(verifier: FederatedVerifier, idp: Issuer, groups: Any) -> None:
    with pytest.raises(InvalidToken, match="groups"):
        await verifier.verify(idp.token(groups=groups))


@pytest.mark.anyio
async def test_custom_groups_claim(jwks_file: Path, idp: Issuer) -> None:
    verifier = FederatedVerifier(
        [TrustedIssuer(ISSUER, AUD, jwks_file=jwks_file, groups_claim="roles")], clock=Clock()
    )
    identity = await verifier.verify(idp.token(roles=["admin"]))
    assert identity.groups == ("admin",)
    assert identity.tenant is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "api://other"}, "audience"),
        ({"exp": int((NOW - timedelta(minutes=5)).timestamp())}, "expired"),
        ({"nbf": int((NOW + timedelta(minutes=5)).timestamp())}, "not yet valid"),
        ({"sub": None}, "sub"),
        ({"exp": None}, "exp"),
        ({"aud": None}, "aud"),
    ],
)
async def test_bad_claims(
    verifier: FederatedVerifier, idp: Issuer, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason):
        await verifier.verify(idp.token(**claims))


@pytest.mark.anyio
async def test_token_signed_by_another_key(verifier: FederatedVerifier) -> None:
    impostor = Issuer()  # same issuer and kid, different key
    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(impostor.token())


@pytest.mark.anyio
async def test_unknown_issuer(verifier: FederatedVerifier) -> None:
    with pytest.raises(InvalidToken, match="not trusted"):
        await verifier.verify(Issuer("https://evil.example").token())


@pytest.mark.anyio
async def test_tenant_mismatch(verifier: FederatedVerifier, idp: Issuer) -> None:
    with pytest.raises(InvalidToken, match="tenant"):
        await verifier.verify(idp.token(), tenant="t2")
    assert (await verifier.verify(idp.token())).tenant == "t1"


@pytest.mark.anyio
@pytest.mark.parametrize("tid", ["t2", None, 1, ["t1"]])
@pytest.mark.parametrize("tenant", [None, "t1"])
async def test_tenant_is_the_tokens_own(
    verifier: FederatedVerifier, idp: Issuer, tid: Any, tenant: str | None
) -> None:
    # Whatever the caller says, a tenant-bound issuer accepts only tokens of its tenant.
    with pytest.raises(InvalidToken, match="tenant"):
        await verifier.verify(idp.token(tid=tid), tenant=tenant)


@pytest.mark.anyio
async def test_unknown_kid_in_file(verifier: FederatedVerifier) -> None:
    other = Issuer(kids=("k9",))
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(other.token("k9"))


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.anyio
async def test_algorithms_are_the_issuers(verifier: FederatedVerifier, idp: Issuer) -> None:
    public_pem = (
        idp.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    payload = jwt.decode(idp.token(), options={"verify_signature": False})
    body = b64url(json.dumps(payload).encode())
    header = b64url(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="algorithm"):
        await verifier.verify(f"{header}.{body}.{b64url(mac)}")
    unsigned = b64url(json.dumps({"alg": "none", "kid": "k1"}).encode())
    with pytest.raises(InvalidToken, match="algorithm"):
        await verifier.verify(f"{unsigned}.{body}.")


@pytest.mark.anyio
async def test_es256_issuer(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    path = tmp_path / "ec.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "e1"}]}))
    verifier = FederatedVerifier([TrustedIssuer(ISSUER, AUD, jwks_file=path)], clock=Clock())
    claims = {"iss": ISSUER, "sub": "s", "aud": AUD, "exp": int(NOW.timestamp()) + 60}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "e1"})
    assert (await verifier.verify(token)).subject == "s"
    # An RS256 header naming the EC key is refused.
    rsa_token = Issuer().token("k1")
    header = b64url(json.dumps({"alg": "RS256", "kid": "e1"}).encode())
    with pytest.raises(InvalidToken):
        await verifier.verify(header + rsa_token[rsa_token.index(".") :])


@pytest.mark.anyio
async def test_file_is_read_once(verifier: FederatedVerifier, idp: Issuer, jwks_file: Path) -> None:
    await verifier.verify(idp.token())
    jwks_file.write_text("not json")
    assert (await verifier.verify(idp.token())).subject == "ci-job"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"keys": 1}', '{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}]}'],
)
async def test_unusable_jwks_file(tmp_path: Path, idp: Issuer, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    verifier = FederatedVerifier([TrustedIssuer(ISSUER, AUD, jwks_file=path)], clock=Clock())
    with pytest.raises(InvalidToken):
        await verifier.verify(idp.token())


@pytest.mark.anyio
async def test_missing_jwks_file(tmp_path: Path, idp: Issuer) -> None:
    verifier = FederatedVerifier(
        [TrustedIssuer(ISSUER, AUD, jwks_file=tmp_path / "absent.json")], clock=Clock()
    )
    with pytest.raises(InvalidToken, match="unavailable"):
        await verifier.verify(idp.token())


@pytest.mark.anyio
@pytest.mark.parametrize("token", ["", "a.b.c", "x" * 20000, "e30.e30.e30"])
async def test_junk(verifier: FederatedVerifier, token: str) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


class JwksServer:
    """An httpx transport serving the provider's current JWKS, counting fetches."""

    def __init__(self, idp: Issuer) -> None:
        self.idp = idp
        self.fetches = 0
        self.status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        return httpx.Response(self.status, json=self.idp.jwks())


@pytest.mark.anyio
async def test_jwks_from_url_with_refetch_on_unknown_kid(idp: Issuer, clock: Clock) -> None:
    server = JwksServer(idp)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        verifier = FederatedVerifier(
            [TrustedIssuer(ISSUER, AUD, jwks_url=JWKS_URL)],
            http=http,
            clock=clock,
            refresh_interval_seconds=300,
        )
        assert (await verifier.verify(idp.token())).subject == "ci-job"
        assert (await verifier.verify(idp.token())).subject == "ci-job"
        assert server.fetches == 1

        # The provider rotates before the refresh interval has passed: not refetched yet.
        idp.add_key("k2")
        clock.now += timedelta(seconds=60)
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await verifier.verify(idp.token("k2", exp=int(clock.now.timestamp()) + 60))
        assert server.fetches == 1

        # After the interval, an unknown kid triggers one refetch.
        clock.now += timedelta(seconds=300)
        token = idp.token("k2", exp=int(clock.now.timestamp()) + 60)
        assert (await verifier.verify(token)).subject == "ci-job"
        assert server.fetches == 2

        # Unknown kids cannot make it refetch more than once per interval.
        stranger = Issuer(kids=("k7",))
        for _ in range(5):
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(stranger.token("k7", exp=int(clock.now.timestamp()) + 60))
        assert server.fetches == 2
        clock.now += timedelta(seconds=300)
        for _ in range(5):
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(stranger.token("k7", exp=int(clock.now.timestamp()) + 60))
        assert server.fetches == 3
        # Known keys keep working throughout.
        token = idp.token("k1", exp=int(clock.now.timestamp()) + 60)
        assert (await verifier.verify(token)).subject == "ci-job"
        assert server.fetches == 3
        await verifier.aclose()
        assert not http.is_closed


@pytest.mark.anyio
async def test_jwks_url_failure(idp: Issuer, clock: Clock) -> None:
    server = JwksServer(idp)
    server.status = 500
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        verifier = FederatedVerifier(
            [TrustedIssuer(ISSUER, AUD, jwks_url=JWKS_URL)], http=http, clock=clock
        )
        with pytest.raises(InvalidToken, match="unavailable"):
            await verifier.verify(idp.token())
        server.status = 200
        assert (await verifier.verify(idp.token())).subject == "ci-job"


def test_issuer_configuration_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TrustedIssuer(ISSUER, AUD)
    with pytest.raises(ValueError):
        TrustedIssuer(ISSUER, AUD, jwks_file=tmp_path, jwks_url=JWKS_URL)
    with pytest.raises(ValueError):
        TrustedIssuer(ISSUER, AUD, jwks_url=JWKS_URL, algorithms=("HS256",))
    with pytest.raises(ValueError):
        TrustedIssuer(ISSUER, AUD, jwks_url=JWKS_URL, algorithms=())
    issuer = TrustedIssuer(ISSUER, AUD, jwks_url=JWKS_URL)
    with pytest.raises(ValueError):
        FederatedVerifier([issuer, issuer])


# Issuers replaced at run time, keys given inline -----------------------------------------------


@pytest.mark.anyio
async def test_inline_jwks(idp: Issuer, clock: Clock) -> None:
    inline = TrustedIssuer(ISSUER, AUD, jwks=json.dumps(idp.jwks()))
    verifier = FederatedVerifier([inline], clock=clock)
    assert (await verifier.verify(idp.token())).subject == "ci-job"
    with pytest.raises(ValueError, match="exactly one"):
        TrustedIssuer(ISSUER, AUD, jwks="{}", jwks_url=JWKS_URL)


@pytest.mark.anyio
async def test_replaced_issuers_apply_to_the_next_token(idp: Issuer, clock: Clock) -> None:
    other = Issuer("https://other.example")
    verifier = FederatedVerifier(
        [TrustedIssuer(ISSUER, AUD, jwks=json.dumps(idp.jwks()))], clock=clock
    )
    await verifier.verify(idp.token())  # its keys are now cached
    rotated = Issuer()  # the same `iss`, new keys
    verifier.replace(
        [
            TrustedIssuer(ISSUER, AUD, jwks=json.dumps(rotated.jwks())),
            TrustedIssuer(other.issuer, AUD, jwks=json.dumps(other.jwks())),
        ]
    )
    assert {t.issuer for t in verifier.issuers} == {ISSUER, other.issuer}
    with pytest.raises(InvalidToken):
        await verifier.verify(idp.token())  # the cached old keys are gone with the old issuer
    assert (await verifier.verify(rotated.token())).issuer == ISSUER
    assert (await verifier.verify(other.token())).issuer == other.issuer
    verifier.replace([])
    with pytest.raises(InvalidToken, match="not trusted"):
        await verifier.verify(rotated.token())


# ID tokens (the portal's directory sign-in): the same keys and rules, bound further ---------


@pytest.mark.anyio
async def test_an_id_token_names_its_client_and_nonce(
    verifier: FederatedVerifier, idp: Issuer
) -> None:
    token = idp.token(aud="portal-client", nonce="n-1")
    found = await verifier.verify(token, issuer=ISSUER, audience="portal-client", nonce="n-1")
    assert found.subject == "ci-job" and found.groups == ("builders", "readers")
    # The exchange's audience is not the client's: the same token is refused there.
    with pytest.raises(InvalidToken, match="audience"):
        await verifier.verify(token)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("claims", "expected", "reason"),
    [
        ({"aud": AUD, "nonce": "n-1"}, {}, "audience"),
        ({"aud": "portal-client", "nonce": "other"}, {}, "nonce"),
        ({"aud": "portal-client"}, {}, "nonce"),
        ({"aud": ["portal-client", "x"], "nonce": "n-1", "azp": "x"}, {}, "azp"),
        ({"aud": "portal-client", "nonce": "n-1"}, {"issuer": "https://other.example"}, "another"),
    ],
)
async def test_id_tokens_that_do_not_hold_are_refused(
    verifier: FederatedVerifier,
    idp: Issuer,
    claims: dict[str, Any],
    expected: dict[str, str],
    reason: str,
) -> None:
    bound = {"issuer": ISSUER, "audience": "portal-client", "nonce": "n-1"} | expected
    with pytest.raises(InvalidToken, match=reason):
        await verifier.verify(idp.token(**claims), **bound)


@pytest.mark.anyio
async def test_an_id_token_of_another_trusted_issuer_is_refused(
    jwks_file: Path, idp: Issuer, tmp_path: Path
) -> None:
    other = Issuer("https://other.example/v2.0")
    other_jwks = tmp_path / "other.json"
    other_jwks.write_text(json.dumps(other.jwks()))
    both = FederatedVerifier(
        [
            TrustedIssuer(issuer=ISSUER, audience=AUD, jwks_file=jwks_file),
            TrustedIssuer(issuer=other.issuer, audience=AUD, jwks_file=other_jwks),
        ],
        clock=Clock(),
    )
    token = other.token(aud="portal-client", nonce="n-1")
    assert (await both.verify(token, audience="portal-client", nonce="n-1")).issuer == other.issuer
    with pytest.raises(InvalidToken, match="another issuer"):
        await both.verify(token, issuer=ISSUER, audience="portal-client", nonce="n-1")
