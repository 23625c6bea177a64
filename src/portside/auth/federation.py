"""Trusting external OIDC issuers: verify their JWTs against their published keys (JWKS).

A workload (a CI job, a Kubernetes service account, an Entra ID application) presents a token
from its own identity provider; if the issuer is trusted, the token's subject and groups become
a `FederatedIdentity` that role assignments can name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from portside.auth.algorithms import ALGORITHMS, FEDERATED_ALGORITHMS
from portside.auth.tokens import MAX_TOKEN_LENGTH, InvalidToken, decode_verified

# PyJWT (and cryptography under it) is imported by the functions that use it: a worker whose
# clients present no federated token never loads it (auth/tokens.py says why).

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAX_JWKS_BYTES",
    "FederatedIdentity",
    "FederatedVerifier",
    "TrustedIssuer",
    "usable_keys",
]

MAX_JWKS_BYTES = 1024 * 1024
"""Largest JWKS document read from a file or URL."""

_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


@dataclass(frozen=True)
class TrustedIssuer:
    """An external issuer whose tokens are accepted, and where its keys are published.

    Exactly one of `jwks_file`, `jwks_url` and `jwks` (the JWKS document itself) must be set.
    `tenant`, when set, limits the issuer to that tenant: its tokens must carry it as their
    `tid` claim.
    """

    issuer: str
    audience: str
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwks: str | None = None
    groups_claim: str = "groups"
    tenant: str | None = None
    algorithms: tuple[str, ...] = ALGORITHMS

    def __post_init__(self) -> None:
        """Check the configuration is usable."""
        if not self.issuer or not self.audience:
            raise ValueError("a trusted issuer needs an issuer and an audience")
        sources = (self.jwks_file, self.jwks_url, self.jwks)
        if sum(source is not None for source in sources) != 1:
            raise ValueError("set exactly one of jwks_file, jwks_url and jwks")
        if not self.algorithms or not set(self.algorithms) <= FEDERATED_ALGORITHMS:
            raise ValueError(f"algorithms must be among {sorted(FEDERATED_ALGORITHMS)}")


@dataclass(frozen=True)
class FederatedIdentity:
    """Who a verified external token names; `tenant` is the issuer's tenant, if bound to one,
    and `expires_at` when the token expires (a session it opens must end by then)."""

    issuer: str
    subject: str
    groups: tuple[str, ...]
    tenant: str | None
    expires_at: datetime


@dataclass(frozen=True)
class _Key:
    """One published key: the key object, and the algorithm the JWK pins (if it does)."""

    key: Any
    kty: str
    alg: str | None

    def fits(self, algorithm: str) -> bool:
        """True if a token signed with `algorithm` may be checked with this key."""
        if self.alg is not None:
            return self.alg == algorithm
        family = "OKP" if algorithm == "EdDSA" else "EC" if algorithm[:2] == "ES" else "RSA"
        return self.kty == family


@dataclass
class _KeySet:
    """An issuer's keys by kid (None for a key without one), and when they were loaded."""

    keys: dict[str | None, _Key]
    loaded_at: float


def _parse_jwks(data: bytes) -> dict[str | None, _Key]:
    """The usable signing keys of a JWKS document (ValueError if it is not one)."""
    document = json.loads(data)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    import jwt

    keys: dict[str | None, _Key] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") not in _KEY_TYPES:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        alg = entry.get("alg")
        if alg is not None and alg not in FEDERATED_ALGORITHMS:
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        kid = entry.get("kid")
        keys[kid if isinstance(kid, str) else None] = _Key(key.key, entry["kty"], alg)
    return keys


def usable_keys(document: str) -> int:
    """How many usable signing keys a JWKS document holds (ValueError if it is not one)."""
    try:
        return len(_parse_jwks(document.encode("utf-8")))
    except RecursionError:
        raise ValueError("not a JWK set") from None


def _groups(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(group, str) for group in value):
        return tuple(value)
    raise InvalidToken("malformed groups claim")


class FederatedVerifier:
    """Verifies tokens of trusted external issuers, caching each issuer's JWKS.

    A JWKS file is read once. A JWKS URL is fetched on first use and again when a token names
    a kid it lacks, at most once per `refresh_interval_seconds` (so unknown kids cannot make
    Portside hammer the issuer). An HTTP client made here is closed by `aclose`; one passed in
    belongs to the caller.
    """

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_interval_seconds: float = 300,
        leeway_seconds: int = 30,
    ) -> None:
        """Trust `issuers` (each issuer string at most once)."""
        self._issuers: Mapping[str, TrustedIssuer] = _by_issuer(issuers)
        self._http = http
        self._owns_http = http is None
        self._clock = clock
        self._refresh = refresh_interval_seconds
        self._leeway = leeway_seconds
        self._key_sets: dict[TrustedIssuer, _KeySet] = {}
        self._locks: dict[str, anyio.Lock] = {}

    @property
    def issuers(self) -> tuple[TrustedIssuer, ...]:
        """The issuers trusted now."""
        return tuple(self._issuers.values())

    def replace(self, issuers: Sequence[TrustedIssuer]) -> None:
        """Trust `issuers` from now on instead; keys of issuers that did not change are kept."""
        by_issuer = _by_issuer(issuers)
        kept = set(by_issuer.values())
        self._key_sets = {t: keys for t, keys in self._key_sets.items() if t in kept}
        self._issuers = by_issuer

    async def verify(
        self,
        token: str,
        tenant: str | None = None,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        nonce: str | None = None,
    ) -> FederatedIdentity:
        """The identity a valid token names; InvalidToken otherwise.

        An issuer bound to a tenant accepts only tokens whose `tid` claim is that tenant;
        `tenant` (what the caller says), when given, must be it too. An OpenID Connect ID
        token (the portal's directory sign-in) is checked with the same keys and rules, and
        further: it must come from `issuer`, name `audience` (the client id, instead of the
        issuer's configured audience) and carry `nonce`.
        """
        if issuer is not None and _claimed_issuer(token) != issuer:
            raise InvalidToken("token comes from another issuer")
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("malformed token")
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        claimed_issuer = unverified.get("iss")
        trusted = self._issuers.get(claimed_issuer) if isinstance(claimed_issuer, str) else None
        if trusted is None:
            raise InvalidToken("token issuer is not trusted")
        if tenant is not None and trusted.tenant is not None and tenant != trusted.tenant:
            raise InvalidToken("token issuer is not trusted for this tenant")
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in trusted.algorithms:
            raise InvalidToken("unsupported token algorithm")
        if "crit" in header or "b64" in header:
            raise InvalidToken("unsupported token header")
        kid = header.get("kid")
        key = await self._key(trusted, kid if isinstance(kid, str) else None)
        if not key.fits(algorithm):
            raise InvalidToken("token algorithm does not match its key")
        payload = self._decode(token, trusted, key, algorithm, audience)
        _check_id_token(payload, audience, nonce)
        subject = payload.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("token lacks a subject")
        # What the caller says proves nothing: the tenant is the signed token's.
        if trusted.tenant is not None and payload.get("tid") != trusted.tenant:
            raise InvalidToken("token issuer is not trusted for this tenant")
        return FederatedIdentity(
            issuer=trusted.issuer,
            subject=subject,
            groups=_groups(payload.get(trusted.groups_claim)),
            tenant=trusted.tenant,
            expires_at=_expiry(payload["exp"]),
        )

    def _decode(
        self, token: str, trusted: TrustedIssuer, key: _Key, algorithm: str, audience: str | None
    ) -> dict[str, Any]:
        return decode_verified(
            token,
            key.key,
            algorithm,
            audience=trusted.audience if audience is None else audience,
            issuer=trusted.issuer,
            required=["iss", "sub", "aud", "exp"],
            now=self._clock(),
            leeway=self._leeway,
        )

    async def _key(self, trusted: TrustedIssuer, kid: str | None) -> _Key:
        """The issuer's key named `kid` (or its only key, for a token without a kid)."""
        lock = self._locks.get(trusted.issuer)
        if lock is None:
            lock = self._locks[trusted.issuer] = anyio.Lock()
        async with lock:
            # Keyed by the whole definition: keys loaded for one replaced since are never used.
            key_set = self._key_sets.get(trusted)
            if key_set is None:
                key_set = _KeySet(await self._load(trusted), self._clock().timestamp())
                if self._issuers.get(trusted.issuer) == trusted:
                    self._key_sets[trusted] = key_set
            elif (
                trusted.jwks_url is not None
                and _find(key_set, kid) is None
                and self._clock().timestamp() - key_set.loaded_at >= self._refresh
            ):
                # Whether the refetch works or not, the next one waits a full interval.
                key_set.loaded_at = self._clock().timestamp()
                key_set.keys = await self._load(trusted)
        key = _find(key_set, kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        return key

    async def _load(self, trusted: TrustedIssuer) -> dict[str | None, _Key]:
        # httpx is loaded with the first key set, not with the worker: the import (with h11's
        # grammar) is a fifth of a worker's start, and most deployments trust no issuer.
        import httpx

        try:
            if trusted.jwks_url is not None:
                data = await self._fetch(trusted.jwks_url)
            elif trusted.jwks_file is not None:
                data = await anyio.to_thread.run_sync(trusted.jwks_file.read_bytes)
            elif trusted.jwks is not None:
                data = trusted.jwks.encode("utf-8")
            else:
                raise ValueError("no JWKS source")
            if len(data) > MAX_JWKS_BYTES:
                raise ValueError("JWKS document too large")
            return _parse_jwks(data)
        except (OSError, ValueError, RecursionError, httpx.HTTPError):
            raise InvalidToken("the issuer's keys are unavailable") from None

    async def _fetch(self, url: str) -> bytes:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        body = bytearray()
        async with self._http.stream("GET", url) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS document too large")
        return bytes(body)

    async def aclose(self) -> None:
        """Close the HTTP client, if this verifier made it."""
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None


def _check_id_token(payload: dict[str, Any], audience: str | None, nonce: str | None) -> None:
    """An ID token's own checks (OIDC Core 3.1.3.7): the sign-in's nonce, and for a token of
    several audiences, the client it was issued to (`azp`)."""
    if nonce is not None and payload.get("nonce") != nonce:
        raise InvalidToken("token nonce does not match the sign-in")
    aud = payload.get("aud")
    several = isinstance(aud, list) and len(aud) > 1
    if audience is not None and several and payload.get("azp") != audience:
        raise InvalidToken("token was issued to another client (azp)")


def _claimed_issuer(token: str) -> object:
    """The `iss` a token claims, unverified (None if it cannot be read)."""
    import jwt

    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None


def _by_issuer(issuers: Sequence[TrustedIssuer]) -> dict[str, TrustedIssuer]:
    by_issuer = {trusted.issuer: trusted for trusted in issuers}
    if len(by_issuer) != len(issuers):
        raise ValueError("each issuer may be trusted only once")
    return by_issuer


def _expiry(value: object) -> datetime:
    """The time an `exp` claim names (whole seconds); InvalidToken if it names none."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidToken("malformed expiry")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidToken("malformed expiry") from None


def _find(key_set: _KeySet, kid: str | None) -> _Key | None:
    if kid is not None:
        return key_set.keys.get(kid)
    if len(key_set.keys) == 1:
        return next(iter(key_set.keys.values()))
    return None
