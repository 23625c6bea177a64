"""Signed JWTs for Docker's token auth (and the refresh tokens behind it), via PyJWT.

Only ES256 and RS256 are issued or accepted: the algorithm is taken from the key a token's
`kid` names, never from what the token says alone, so `alg: none` and HS256-with-the-public-key
tokens are refused before any signature check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from portside.auth.algorithms import ALGORITHMS, Algorithm
from portside.auth.errors import Unauthorized

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

# PyJWT and cryptography (~9 MiB resident, a tenth of a worker) are imported by the functions
# that use them: a worker that serves no Bearer token and signs none never loads them.

__all__ = [
    "MAX_TOKEN_LENGTH",
    "InvalidToken",
    "SigningKey",
    "TokenService",
    "check_token_times",
    "decode_verified",
]

MAX_TOKEN_LENGTH = 16 * 1024
"""Longest token accepted, in characters."""

_REQUIRED = ["iss", "sub", "aud", "exp", "iat"]
# Tokens whose signature was checked, per service (a client presents the same token on every
# request of a pull or push; a signature check costs more than the rest of a manifest GET).
_VERIFIED = 1024
_RESERVED = frozenset({"iss", "sub", "aud", "iat", "nbf", "exp", "jti"})
# Characters that, at some offsets of compact ASCII JSON, become '-' or '_' in base64url: the
# azure-containerregistry SDK decodes the payload with the standard alphabet (to read `exp`)
# and would silently drop those. With JSON's ASCII escaping these are the only ones.
_SDK_UNSAFE = frozenset(">?~\x7f")


class InvalidToken(Unauthorized):
    """A token that is malformed, not ours, expired, or not meant for this use."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big")


def _public_members(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> dict[str, str]:
    """The RFC 7638 required JWK members of a public key."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {
            "e": _b64url(_int_bytes(numbers.e)),
            "kty": "RSA",
            "n": _b64url(_int_bytes(numbers.n)),
        }
    point = key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url(_int_bytes(point.x, 32)),
        "y": _b64url(_int_bytes(point.y, 32)),
    }


def _thumbprint(members: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    canonical = json.dumps(dict(sorted(members.items())), separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class SigningKey:
    """A private key that signs tokens, named by `kid` (its public key's JWK thumbprint)."""

    kid: str
    algorithm: Algorithm
    # Kept out of the repr: a key logged or shown in a traceback is a key leaked.
    private_pem: bytes = field(repr=False)
    created_at: datetime

    @classmethod
    def generate(cls, algorithm: Algorithm = "ES256", *, now: datetime) -> SigningKey:
        """A new key: EC P-256 for ES256, RSA 2048 for RS256."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        if algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"unsupported algorithm {algorithm!r}")
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        kid = _thumbprint(_public_members(private.public_key()))
        return cls(kid=kid, algorithm=algorithm, private_pem=pem, created_at=now)

    @cached_property
    def private_key(self) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
        """The loaded private key (loaded once); ValueError if it does not fit `algorithm`."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        key = serialization.load_pem_private_key(self.private_pem, password=None)
        if self.algorithm == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise ValueError("ES256 needs a P-256 key")
            return key
        if self.algorithm == "RS256" and isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < 2048:
                raise ValueError("RS256 needs an RSA key of at least 2048 bits")
            return key
        raise ValueError(f"key {self.kid} does not fit algorithm {self.algorithm}")

    @cached_property
    def public_key(self) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
        """The public half of the key."""
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, object]:
        """The public key as a JWK, with `kid`, `alg` and `use: sig`."""
        return {
            **_public_members(self.public_key),
            "kid": self.kid,
            "alg": self.algorithm,
            "use": "sig",
        }


def check_token_times(payload: Mapping[str, object], now: datetime, leeway: float) -> None:
    """Check `exp`, `nbf` and `iat` (when present) against `now`; raise InvalidToken."""
    stamp = now.timestamp()
    times: dict[str, float] = {}
    for claim in ("exp", "nbf", "iat"):
        value = payload.get(claim)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidToken(f"malformed {claim} claim")
        times[claim] = value
    if "exp" in times and times["exp"] <= stamp - leeway:
        raise InvalidToken("token expired")
    if any(times[c] > stamp + leeway for c in ("nbf", "iat") if c in times):
        raise InvalidToken("token not yet valid")


def decode_verified(
    token: str,
    key: Any,
    algorithm: str,
    *,
    audience: str | None,
    issuer: str,
    required: list[str],
    now: datetime,
    leeway: float,
) -> dict[str, Any]:
    """The claims of `token` once its signature (by `key`, with `algorithm` only), audience,
    issuer, `required` claims and times are checked; InvalidToken saying why otherwise."""
    import jwt

    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={
                "require": required,
                "verify_aud": audience is not None,
                # PyJWT reads the clock itself; check_token_times uses the caller's.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise InvalidToken("bad token signature") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("token is from another issuer") from None
    except jwt.MissingRequiredClaimError as error:
        raise InvalidToken(f"token lacks the {error.claim} claim") from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise InvalidToken("invalid token") from None
    check_token_times(payload, now, leeway)
    return payload


def _check_sdk_safe(value: object) -> None:
    """Raise ValueError if a claim would break the SDK's standard-base64 payload decoding."""
    if isinstance(value, str):
        if _SDK_UNSAFE.intersection(value):
            raise ValueError("claim values may not contain '>', '?', '~' or DEL")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_sdk_safe(key)
            _check_sdk_safe(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_sdk_safe(item)
    elif value is not None and not isinstance(value, bool | int | float):
        raise ValueError(f"claim values must be JSON values, not {type(value).__name__}")


class TokenService:
    """Issues and verifies Portside's JWTs.

    The first key signs; every key verifies, so a rotated-out key keeps verifying the tokens it
    signed until it is removed from `keys`.
    """

    def __init__(
        self,
        *,
        issuer: str,
        keys: Sequence[SigningKey],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        leeway_seconds: int = 30,
    ) -> None:
        """Sign with `keys[0]`, verify with all of `keys`, as `issuer`."""
        if not issuer:
            raise ValueError("issuer must not be empty")
        if not keys:
            raise ValueError("at least one signing key is needed")
        by_kid = {key.kid: key for key in keys}
        if len(by_kid) != len(keys):
            raise ValueError("signing keys must have distinct kids")
        _check_sdk_safe(issuer)
        self._issuer = issuer
        self._keys = tuple(keys)
        self._by_kid = by_kid
        self._clock = clock
        self._leeway = leeway_seconds
        # (token, audience) -> its claims, least recently used first. Only what the signature
        # and the issuer decide is remembered: times and kind are checked again on every use,
        # and revocation is the caller's (the access policy compares the auth version).
        self._verified: OrderedDict[tuple[str, str | None], dict[str, Any]] = OrderedDict()

    @property
    def issuer(self) -> str:
        """The `iss` of every token this service issues."""
        return self._issuer

    def issue(
        self,
        *,
        subject: str,
        audience: str,
        lifetime: timedelta,
        claims: Mapping[str, object],
    ) -> str:
        """A signed token for `subject` and `audience`, valid for `lifetime`, with `claims`.

        Raises ValueError if a claim string holds '>', '?', '~' or DEL: Microsoft's
        azure-containerregistry SDK reads `exp` by decoding the payload as standard base64, and
        only those characters (JSON is ASCII-escaped) can turn into '-' or '_' in base64url.
        """
        seconds = int(lifetime.total_seconds())
        if seconds <= 0:
            raise ValueError("token lifetime must be positive")
        reserved = _RESERVED.intersection(claims)
        if reserved:
            raise ValueError(f"claims may not set {sorted(reserved)}")
        now = int(self._clock().timestamp())
        payload: dict[str, object] = {
            **claims,
            "iss": self._issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + seconds,
            "jti": uuid.uuid4().hex,
        }
        _check_sdk_safe(payload)
        key = self._keys[0]
        import jwt

        return jwt.encode(
            payload,
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, "typ": "JWT"},
        )

    def verify(
        self, token: str, *, audience: str | None = None, kind: str | None = None
    ) -> dict[str, object]:
        """The claims of a valid token; InvalidToken saying why otherwise.

        `audience`, when given, must be the token's `aud`; `kind`, when given, its `grant_type`.
        """
        key = (token, audience)
        payload = self._verified.get(key)
        if payload is not None:
            self._verified.move_to_end(key)
            check_token_times(payload, self._clock(), self._leeway)
        else:
            payload = self._verify_signed(token, audience)
            self._verified[key] = payload
            if len(self._verified) > _VERIFIED:
                self._verified.popitem(last=False)
        if kind is not None and payload.get("grant_type") != kind:
            raise InvalidToken("wrong kind of token")
        # A copy: the remembered claims must not change with what a caller does to its own.
        return dict(payload)

    def _verify_signed(self, token: str, audience: str | None) -> dict[str, Any]:
        """The claims of `token` once its form, key, signature, issuer and times are checked."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("malformed token")
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise InvalidToken("unsupported token algorithm")
        if "crit" in header or "b64" in header:
            raise InvalidToken("unsupported token header")
        kid = header.get("kid")
        key = self._by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown signing key")
        if algorithm != key.algorithm:
            raise InvalidToken("token algorithm does not match its key")
        return decode_verified(
            token,
            key.public_key,
            key.algorithm,
            audience=audience,
            issuer=self._issuer,
            required=_REQUIRED,
            now=self._clock(),
            leeway=self._leeway,
        )

    def jwks(self) -> dict[str, object]:
        """The public keys as a JWK set: `{"keys": [...]}`."""
        return {"keys": [key.public_jwk() for key in self._keys]}
