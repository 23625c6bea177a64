"""Docker token auth and ACR's exchange: issuing refresh and access tokens for a registry.

Each endpoint is one call: `token` (Docker's GET with Basic credentials or none, and the OAuth2
POST with `grant_type=password` or `refresh_token`) and `exchange` (a trusted issuer's token for
a refresh token). Both find the registry from the Host the request came to.

Access tokens carry `access` (the intersection of what was asked and what is granted), the
registry id (`reg`), its never-reused uid (`rid`) and its auth version (`ver`), and live no
longer than the secret their identity proved (whose expiry they carry as `sexp`); refresh
tokens carry the identity only and are re-evaluated on every use. Both carry the fingerprint of
the stored secret their identity proved (`sec`), if it logged in with one. Both are JWTs
signed with the deployment's current key.

A federated sign-in is a session that ends when the issuer's token expires, or after
`federated_session_max_seconds`, whichever comes first: the refresh token carries that end
(`sxp`) and neither it nor any token renewed from it outlives it, so the caller returns to its
issuer (where a removed group or a disabled account then takes effect).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from portside.auth.claims import identity_claims, secret_claim
from portside.auth.credentials import Basic, Credentials, Malformed
from portside.auth.errors import Denied, Unauthorized
from portside.auth.identity import ANONYMOUS, Identity, Login
from portside.auth.permissions import AccessGrant
from portside.auth.scopes import Scope, ScopeError, parse_scopes
from portside.metadata.records import RegistryRecord
from portside.services.access.hosts import RegistryDirectory
from portside.services.access.issuers import TrustedIssuers
from portside.services.access.policy import AccessPolicy
from portside.services.access.signing import KeyRing
from portside.services.errors import ParameterInvalid

__all__ = ["ExchangeRequest", "IssuedToken", "OAuthService", "TokenAnswer", "TokenRequest"]


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A token request's parameters, as the client sent them (query or form).

    `grant_type` is None for Docker's GET, whose credentials come in the Authorization header;
    a POST names `password` or `refresh_token` ("" when it names none).
    """

    service: str | None = None
    scopes: tuple[str, ...] = ()
    offline: bool = False
    grant_type: str | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """ACR's exchange request: a trusted issuer's `access_token` (and its tenant)."""

    service: str | None = None
    grant_type: str = ""
    access_token: str = field(default="", repr=False)
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token and what the token endpoint says about it."""

    token: str
    expires_in: int
    issued_at: datetime
    access: tuple[Scope, ...]


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """What the token endpoint answers: an access token, and a refresh token if one was asked."""

    issued: IssuedToken
    refresh_token: str | None = None


class OAuthService:
    """Issues tokens for identities the access policy has authenticated."""

    def __init__(
        self,
        policy: AccessPolicy,
        keys: KeyRing,
        *,
        directory: RegistryDirectory,
        federation: TrustedIssuers | None,
        access_seconds: int,
        refresh_seconds: int,
        federated_session_seconds: int = 8 * 3600,
    ) -> None:
        """Authenticate with `policy`, sign with `keys`, find registries with `directory`;
        `federation` holds the trusted issuers whose tokens `exchange` accepts."""
        self._policy = policy
        self._directory = directory
        self._keys = keys
        self._federation = federation
        self._access = timedelta(seconds=access_seconds)
        self._refresh = timedelta(seconds=refresh_seconds)
        self._session = timedelta(seconds=federated_session_seconds)

    async def token(
        self, host: str, credentials: Credentials, request: TokenRequest, *, client: str
    ) -> TokenAnswer:
        """Docker's token request at `host`: an access token for what the caller may do of the
        scopes asked, and a refresh token too when asked for offline access. `client` is the
        caller's network address (password logins are throttled by it)."""
        registry, service = await self._directory.resolve_service(host, request.service)
        scopes = _scopes(request.scopes)
        login = await self._login(registry, credentials, request, client)
        identity, secret, ends = login.identity, login.secret, login.session_end
        issued = await self.access_token(
            registry, identity, scopes, service, secret=secret, session_end=ends, host=host
        )
        if not request.offline or identity.kind == "anonymous":
            return TokenAnswer(issued)
        # Renewal keeps the session's end: a refresh token never extends its own session.
        refresh = await self.refresh_token(
            registry, identity, service, secret=secret, session_end=ends
        )
        return TokenAnswer(issued, refresh)

    async def exchange(self, host: str, request: ExchangeRequest) -> str:
        """ACR's exchange at `host`: a refresh token for the subject (and groups) of a
        trusted issuer's access token."""
        registry, service = await self._directory.resolve_service(host, request.service)
        if request.grant_type != "access_token":
            raise ParameterInvalid("grant_type must be access_token")
        if not request.access_token:
            raise ParameterInvalid("access_token is required")
        # Issuers change at run time (the management API): this reads what is trusted now.
        verifier = None if self._federation is None else await self._federation.verifier()
        if verifier is None or not verifier.issuers:
            raise Denied("no identity provider is trusted by this deployment")
        federated = await verifier.verify(request.access_token, request.tenant)
        try:
            identity = Identity(
                "federated", federated.subject, federated.groups, issuer=federated.issuer
            )
        except ValueError:
            raise Unauthorized("token does not name a subject") from None
        now = datetime.now(UTC).replace(microsecond=0)
        ends = min(federated.expires_at, now + self._session)
        return await self.refresh_token(registry, identity, service, session_end=ends)

    async def jwks(self) -> dict[str, object]:
        """The public keys that verify this deployment's tokens, as a JWK set."""
        return (await self._keys.service()).jwks()

    async def access_token(
        self,
        registry: RegistryRecord,
        identity: Identity,
        scopes: tuple[Scope, ...],
        service: str,
        *,
        secret: str | None = None,
        session_end: datetime | None = None,
        host: str = "",
    ) -> IssuedToken:
        """An access token for what `identity` may do of `scopes` (possibly nothing), asked
        for at the Host `host`.

        `secret` is the fingerprint of the stored secret the identity proved (`Login.secret`);
        the token ends with the session, at `session_end` (`Login.session_end`), if earlier.
        """
        lifetime = self._access
        if session_end is not None:
            lifetime = min(lifetime, session_end - datetime.now(UTC))
            if lifetime.total_seconds() < 1:
                raise Unauthorized("the session has ended: sign in at the identity provider again")
        grant = await self._policy.grant_for(registry, identity, scopes, host=host)
        if grant is None:
            raise Unauthorized("credentials are no longer valid")
        access = grant.intersect(scopes)
        # A token lives no longer than the secret it was obtained with (`sexp`: its expiry).
        expires_at = await self._policy.secret_expiry(registry, identity, secret)
        limit: dict[str, object] = {}
        if expires_at is not None:
            lifetime = min(lifetime, expires_at - datetime.now(UTC))
            if lifetime < timedelta(seconds=1):
                raise Unauthorized("credentials are no longer valid")
            limit["sexp"] = int(expires_at.timestamp())
        claims: dict[str, object] = {
            "grant_type": "access_token",
            "reg": registry.id,
            "rid": registry.uid,
            "ver": registry.auth_version,
            "access": AccessGrant(exact=access).to_access_claim(),
            **identity_claims(identity),
            **secret_claim(secret),
            **limit,
        }
        service_ = await self._keys.signer()
        token = service_.issue(
            subject=identity.subject, audience=service, lifetime=lifetime, claims=claims
        )
        return IssuedToken(
            token=token,
            expires_in=int(lifetime.total_seconds()),
            issued_at=datetime.now(UTC),
            access=access,
        )

    async def refresh_token(
        self,
        registry: RegistryRecord,
        identity: Identity,
        service: str,
        *,
        secret: str | None = None,
        session_end: datetime | None = None,
    ) -> str:
        """A refresh token naming `identity` in `registry` (anonymous callers get none), ending
        with its session at `session_end`, if earlier."""
        return await self._keys.refresh_token(
            registry,
            identity,
            audience=service,
            lifetime=self._refresh,
            secret=secret,
            session_end=session_end,
        )

    async def _login(
        self, registry: RegistryRecord, credentials: Credentials, request: TokenRequest, client: str
    ) -> Login:
        """Who the token request authenticates as, by its grant type."""
        if request.grant_type is None:
            return await self._caller(registry, credentials, client)
        if request.grant_type == "refresh_token":
            if not request.refresh_token:
                raise ParameterInvalid("refresh_token is required")
            return await self._policy.refresh_login(registry, request.refresh_token)
        if request.grant_type != "password":
            raise ParameterInvalid("grant_type must be password or refresh_token")
        if request.username or request.password:
            return await self._policy.login(
                registry, request.username, request.password, client=client
            )
        if request.refresh_token:
            return await self._policy.refresh_login(registry, request.refresh_token)
        # ACR's anonymous flow: the SDK posts grant_type=password with nothing else.
        return await self._caller(registry, credentials, client)

    async def _caller(
        self, registry: RegistryRecord, credentials: Credentials, client: str
    ) -> Login:
        """The identity of the request's Basic credentials; anonymous without any."""
        if credentials is None:
            return Login(ANONYMOUS)
        if isinstance(credentials, Malformed):
            raise credentials.error()
        if not isinstance(credentials, Basic):
            raise Unauthorized("the token endpoint takes Basic credentials")
        return await self._policy.login(
            registry, credentials.username, credentials.password, client=client
        )


def _scopes(values: tuple[str, ...]) -> tuple[Scope, ...]:
    try:
        return parse_scopes(values)
    except ScopeError as error:
        raise ParameterInvalid(f"invalid scope: {error}") from None
