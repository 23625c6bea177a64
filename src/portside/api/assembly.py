"""Building the access-control half of the application: identities, policy, tokens, management.

`create_app` calls `build_access` in its lifespan; the parts share one set of stores, one
hasher (and so one cache of verified secrets) and one login throttle.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from portside.auth.federation import FederatedVerifier, TrustedIssuer
from portside.auth.secrets import SecretHasher
from portside.auth.throttle import LoginThrottle
from portside.config import Settings
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.principals import RoleAssignmentStore, ServicePrincipalStore
from portside.metadata.registries import RegistryStore
from portside.metadata.scope_maps import ScopeMapStore, TokenStore
from portside.metadata.signing_keys import SigningKeyStore
from portside.metadata.usage_reads import UsageStore
from portside.services.access.hosts import RegistryDirectory
from portside.services.access.oauth import OAuthService
from portside.services.access.policy import AccessPolicy, AccessStores
from portside.services.access.signing import KeyRing
from portside.services.management.admin import DeploymentAdmin
from portside.services.management.service import ManagementService

__all__ = ["AccessParts", "ManagementMount", "anonymous_registry", "build_access"]


@dataclass(frozen=True, slots=True)
class AccessParts:
    """What the access step, the token endpoints and the management API run on."""

    policy: AccessPolicy
    directory: RegistryDirectory
    oauth: OAuthService
    keys: KeyRing
    management: ManagementService
    federation: FederatedVerifier | None

    async def aclose(self) -> None:
        """Release what the parts hold open."""
        if self.federation is not None:
            await self.federation.aclose()


def anonymous_registry(settings: Settings) -> str | None:
    """The registry open to anonymous push and pull: the default one, on loopback only."""
    if settings.anonymous_loopback and settings.listens_on_loopback():
        return settings.default_registry
    return None


def _federation(settings: Settings) -> FederatedVerifier | None:
    if not settings.trusted_issuers:
        return None
    return FederatedVerifier(
        [
            TrustedIssuer(
                issuer=trusted.issuer,
                audience=trusted.audience,
                jwks_file=trusted.jwks_file,
                jwks_url=trusted.jwks_url,
                groups_claim=trusted.groups_claim,
                tenant=trusted.tenant,
            )
            for trusted in settings.trusted_issuers
        ]
    )


async def build_access(settings: Settings, db: Database) -> AccessParts:
    """Build the parts, make sure the default registry and a signing key exist."""
    stores = AccessStores(
        registries=RegistryStore(db),
        credentials=CredentialStore(db),
        tokens=TokenStore(db),
        scope_maps=ScopeMapStore(db),
        principals=ServicePrincipalStore(db),
        roles=RoleAssignmentStore(db),
    )
    hasher = SecretHasher()
    throttle = LoginThrottle(
        max_failures=settings.login_max_failures, lockout_seconds=settings.login_lockout_seconds
    )
    keys = KeyRing(
        SigningKeyStore(db), issuer=settings.token_issuer, algorithm=settings.signing_algorithm
    )
    await keys.reload()
    admin = DeploymentAdmin(stores.credentials, hasher)
    # Generated once by `portside serve` before workers start; here it only switches a
    # configured password on (nothing is generated when one is already stored).
    await admin.ensure(settings.admin_password)
    management = ManagementService(
        stores,
        usage=UsageStore(db),
        hasher=hasher,
        keys=keys,
        admin=admin,
        throttle=throttle,
        domain=settings.domain,
        port=settings.port,
        default_registry=settings.default_registry,
        refresh_token_seconds=settings.refresh_token_seconds,
    )
    await management.registries.ensure_registry(settings.default_registry)
    directory = RegistryDirectory(
        stores.registries, domain=settings.domain, default=settings.default_registry
    )
    policy = AccessPolicy(
        stores,
        hasher=hasher,
        throttle=throttle,
        keys=keys,
        anonymous_registry=anonymous_registry(settings),
        registry_of_host=directory.name_for_host,
    )
    federation = _federation(settings)
    return AccessParts(
        policy=policy,
        directory=directory,
        oauth=OAuthService(
            policy,
            keys,
            directory=directory,
            federation=federation,
            access_seconds=settings.access_token_seconds,
            refresh_seconds=settings.refresh_token_seconds,
        ),
        keys=keys,
        management=management,
        federation=federation,
    )


class ManagementMount:
    """ASGI app at `/api/v1` forwarding to the management API built in the lifespan."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward to the running application's management app."""
        api = getattr(scope["app"].state, "management_api", None)
        if api is None:
            raise RuntimeError("the management API is not running (lifespan not started)")
        await api(scope, receive, send)
