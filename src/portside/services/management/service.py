"""The management service: what the management API (and through it the CLI) does.

`ManagementService` bundles the parts, each in its own module:

- `registries`  RegistryManagement: registries, their quotas and usage, admin-user
  credentials, repository anonymous pull (registries.py);
- `scope_maps`  ScopeMapManagement (scope_maps.py);
- `tokens`      TokenManagement (tokens.py);
- `principals`  PrincipalManagement: service principals and role assignments
  (identities.py);
- `issuers`     IssuerManagement: trusted OIDC issuers (issuers.py);
- `auth`        ManagementAuth: who may call what; `admin` DeploymentAdmin (admin.py);

plus signing-key rotation and retirement, and the refresh tokens `portside login` writes into
Docker's configuration. Methods are async and raise `Invalid`, `NotFound` or `Conflict`
(errors.py), or the auth errors for callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from portside.auth.algorithms import ALGORITHMS
from portside.auth.identity import Identity
from portside.auth.secrets import SecretHasher
from portside.auth.throttle import LoginThrottle
from portside.metadata.usage_reads import UsageStore
from portside.services.access.hosts import LocalLoginServers
from portside.services.access.issuers import TrustedIssuers
from portside.services.access.policy import AccessStores
from portside.services.access.signing import KeyRing
from portside.services.lifecycle.usage import UsageService
from portside.services.management.admin import Caller, DeploymentAdmin, ManagementAuth
from portside.services.management.context import ManagementContext
from portside.services.management.errors import Invalid, NotFound
from portside.services.management.identities import PrincipalManagement
from portside.services.management.issuers import IssuerManagement, Sealer
from portside.services.management.registries import RegistryManagement
from portside.services.management.scope_maps import ScopeMapManagement
from portside.services.management.tokens import TokenManagement

__all__ = ["ManagementService", "RegistryLogin", "caller_identity"]


@dataclass(frozen=True, slots=True)
class RegistryLogin:
    """A registry's login server and a refresh token for it (`docker login` with the null GUID)."""

    login_server: str
    refresh_token: str


def caller_identity(caller: Caller) -> Identity:
    """The registry identity a management caller acts as: the deployment administrator
    (`deployment:admin`, every action) or the service principal itself (its roles)."""
    if caller.is_admin:
        return Identity("deployment", "admin")
    return Identity("sp", caller.id)


class ManagementService:
    """Registries, identities, tokens, scope maps, roles and keys of a deployment."""

    def __init__(
        self,
        stores: AccessStores,
        *,
        usage: UsageStore,
        hasher: SecretHasher,
        keys: KeyRing,
        admin: DeploymentAdmin,
        throttle: LoginThrottle,
        domain: str,
        port: int,
        default_registry: str,
        refresh_token_seconds: int,
        issuers: TrustedIssuers,
        local_logins: LocalLoginServers | None = None,
        seal: Sealer | None = None,
    ) -> None:
        """Assemble the parts over the stores and `usage` (see the module docstring).

        `domain` and `port` make login servers (`NAME.<domain>[:port]`), `local_logins` the
        loopback ones (services/access/hosts.py); `default_registry`
        answers at the server's own address; `refresh_token_seconds` is the lifetime of the
        refresh tokens `login` issues; `issuers` the trusted OIDC issuers (configured and
        stored), which federated role assignments name; `seal` seals their portal client
        secrets.
        """
        context = ManagementContext(stores, hasher, UsageService(usage))
        self.registries = RegistryManagement(
            context,
            domain=domain,
            port=port,
            default_registry=default_registry,
            local=local_logins,
        )
        self.scope_maps = ScopeMapManagement(context)
        self.tokens = TokenManagement(context)
        self.principals = PrincipalManagement(context, issuers.issuers)
        self.issuers = IssuerManagement(issuers, seal)
        self.admin = admin
        self.auth = ManagementAuth(admin, self.principals, throttle)
        self._context = context
        self._keys = keys
        self._refresh_lifetime = timedelta(seconds=refresh_token_seconds)

    async def login(self, registry: str, caller: Caller, host: str | None = None) -> RegistryLogin:
        """A refresh token for `caller` in `registry`, minted as the /oauth2/token endpoint
        mints them (`KeyRing.refresh_token`), for the registry's login server."""
        record = await self._context.registry(registry)
        login_server = self.registries.login_server(record, host)
        token = await self._keys.refresh_token(
            record,
            caller_identity(caller),
            audience=login_server,
            lifetime=self._refresh_lifetime,
            secret=caller.secret or None,
        )
        return RegistryLogin(login_server, token)

    async def rotate_signing_key(self, algorithm: str | None = None) -> str:
        """Sign tokens with a new key from now on (older keys keep verifying); its kid."""
        if algorithm is not None and algorithm not in ALGORITHMS:
            raise Invalid(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        return await self._keys.rotate(algorithm)

    async def retire_signing_key(self, kid: str) -> None:
        """Remove a signing key that no longer signs: tokens it signed stop verifying on every
        node at once. Invalid for the signing key (rotate first), NotFound for an unknown one."""
        if not kid or len(kid) > 64:
            raise NotFound("no such signing key")
        try:
            await self._keys.retire(kid)
        except LookupError:
            raise NotFound(f"no signing key {kid!r}") from None
        except ValueError as error:
            raise Invalid(str(error)) from None
