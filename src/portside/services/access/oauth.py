"""Docker token auth and ACR's exchange: issuing refresh and access tokens for a registry.

Access tokens carry `access` (the intersection of what was asked and what is granted), the
registry id (`reg`) and its auth version (`ver`); refresh tokens carry the identity only and
are re-evaluated on every use. Both carry the fingerprint of the stored secret their identity
proved (`sec`), if it logged in with one. Both are JWTs signed with the deployment's current key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portside.auth.claims import identity_claims
from portside.auth.errors import Denied, Unauthorized
from portside.auth.federation import FederatedVerifier
from portside.auth.identity import Identity
from portside.auth.permissions import AccessGrant
from portside.auth.scopes import Scope
from portside.metadata.records import RegistryRecord
from portside.services.access.policy import AccessPolicy
from portside.services.access.signing import KeyRing

__all__ = ["IssuedToken", "OAuthService"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token and what the token endpoint says about it."""

    token: str
    expires_in: int
    issued_at: datetime
    access: tuple[Scope, ...]


class OAuthService:
    """Issues tokens for identities the access policy has authenticated."""

    def __init__(
        self,
        policy: AccessPolicy,
        keys: KeyRing,
        *,
        federation: FederatedVerifier | None,
        access_seconds: int,
        refresh_seconds: int,
    ) -> None:
        self._policy = policy
        self._keys = keys
        self._federation = federation
        self._access = timedelta(seconds=access_seconds)
        self._refresh = timedelta(seconds=refresh_seconds)

    async def access_token(
        self,
        registry: RegistryRecord,
        identity: Identity,
        scopes: tuple[Scope, ...],
        service: str,
        *,
        secret: str | None = None,
    ) -> IssuedToken:
        """An access token for what `identity` may do of `scopes` (possibly nothing).

        `secret` is the fingerprint of the stored secret the identity proved (`Login.secret`).
        """
        grant = await self._policy.grant_for(registry, identity, scopes)
        if grant is None:
            raise Unauthorized("credentials are no longer valid")
        access = grant.intersect(scopes)
        claims: dict[str, object] = {
            "grant_type": "access_token",
            "reg": registry.id,
            "ver": registry.auth_version,
            "access": AccessGrant(exact=access).to_access_claim(),
            **identity_claims(identity),
            **_secret_claim(secret),
        }
        service_ = await self._keys.service()
        token = service_.issue(
            subject=identity.subject, audience=service, lifetime=self._access, claims=claims
        )
        return IssuedToken(
            token=token,
            expires_in=int(self._access.total_seconds()),
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
    ) -> str:
        """A refresh token naming `identity` in `registry` (anonymous callers get none)."""
        if identity.kind == "anonymous":
            raise Unauthorized("anonymous callers get no refresh token")
        claims: dict[str, object] = {
            "grant_type": "refresh_token",
            "reg": registry.id,
            **identity_claims(identity),
            **_secret_claim(secret),
        }
        service_ = await self._keys.service()
        try:
            return service_.issue(
                subject=identity.subject, audience=service, lifetime=self._refresh, claims=claims
            )
        except ValueError:
            # A federated subject or group holding characters ACR's SDK cannot decode.
            raise Denied("this identity's names cannot be carried in a token") from None

    async def exchange(
        self, registry: RegistryRecord, external_token: str, tenant: str | None, service: str
    ) -> str:
        """A refresh token for the subject (and groups) of a trusted issuer's token."""
        if self._federation is None:
            raise Denied("no identity provider is trusted by this deployment")
        federated = await self._federation.verify(external_token, tenant)
        try:
            identity = Identity("federated", federated.subject, federated.groups)
        except ValueError:
            raise Unauthorized("token does not name a subject") from None
        return await self.refresh_token(registry, identity, service)


def _secret_claim(secret: str | None) -> dict[str, object]:
    return {} if secret is None else {"sec": secret}
