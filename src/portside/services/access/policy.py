"""The access decision: who the caller is, and what they may do in the registry they address.

Every /v2/ and /acr/v1/ request passes `AccessPolicy.authorize` before its handler runs:

- no credentials: the anonymous grant (the loopback development registry, a
  registry's or a repository's anonymous pull);
- `Basic user:password`: the admin user, a token, a service principal, or the null GUID with a
  refresh token, checked against argon2id hashes (password attempts are throttled per user
  name and client address, and counted before they are verified);
- `Bearer <access token>`: a JWT this deployment signed for this registry. Its `access` claim is
  trusted while the registry's auth version is the one it was issued at; after any change to
  credentials, tokens, scope maps, roles or settings, the identity's current grant is
  re-evaluated and intersected with the claim, so revocations apply at once;
- an Authorization header that could not be read (`Malformed`): Unauthorized.

Tokens name their registry by its id (`reg`) and its random uid (`rid`, never reused), so a
registry deleted and created again under the same name accepts none of the old one's tokens.

Tokens of identities that log in with a secret (admin, token, service principal, the
deployment administrator) carry the fingerprint of that secret (`sec`): when the secret is
renewed, removed or reset, the tokens it obtained stop working at once (refresh tokens are
checked on every use; access tokens at the change of the auth version that renewing or
removing a secret is). Access tokens of a secret with an expiry carry it (`sexp`) and live no
longer: they are refused from that instant, without clock leeway.

Federated identities (subjects and groups of a trusted issuer) are granted what the role
assignments naming their issuer and their subject or groups give: names alone never match, as
two issuers may use the same ones. Their refresh tokens carry the end of their session, and
they are valid only while their issuer is trusted: removing an issuer ends its sessions
(refresh tokens at their next use, access tokens at the auth-version change the removal is).

A caller lacking a scope gets Unauthorized (401, with a challenge to fetch a token) when it
came without credentials or with a bearer token, and Denied (403) when its credentials are
good but not enough.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from portside.auth.claims import identity_of, session_end_of
from portside.auth.credentials import Basic, Credentials, Malformed
from portside.auth.errors import Denied, Unauthorized
from portside.auth.identity import NULL_GUID, Identity, Login
from portside.auth.permissions import (
    ALL_ACTIONS,
    ANONYMOUS_PULL,
    AccessGrant,
    Permission,
    RepositoryPattern,
    parse_scope_map_action,
    role_actions,
)
from portside.auth.scopes import Scope
from portside.auth.secrets import SecretHasher
from portside.auth.throttle import LoginThrottle
from portside.metadata.clock import utcnow
from portside.metadata.credentials import CredentialStore
from portside.metadata.principals import RoleAssignmentStore, ServicePrincipalStore
from portside.metadata.records import RegistryRecord
from portside.metadata.registries import RegistryStore
from portside.metadata.scope_maps import ScopeMapStore, TokenStore
from portside.services.access.hosts import loopback_host
from portside.services.access.secrets import SecretChecks
from portside.services.access.signing import KeyRing

__all__ = [
    "EVERYTHING",
    "AccessPolicy",
    "AccessStores",
]

EVERYTHING = AccessGrant(
    permissions=(Permission(RepositoryPattern.parse("*"), ALL_ACTIONS),), catalog=True
)
_CATALOG = ("registry", "catalog")
# Access claims of verified tokens, parsed (least recently used first).
_CLAIMED = 1024


@dataclass(frozen=True, slots=True)
class AccessStores:
    """The metadata an access decision reads."""

    registries: RegistryStore
    credentials: CredentialStore
    tokens: TokenStore
    scope_maps: ScopeMapStore
    principals: ServicePrincipalStore
    roles: RoleAssignmentStore


class AccessPolicy:
    """Authenticates callers and computes their grants, per registry."""

    def __init__(
        self,
        stores: AccessStores,
        *,
        hasher: SecretHasher,
        throttle: LoginThrottle,
        keys: KeyRing,
        anonymous_registry: str | None,
        registry_of_host: Callable[[str], str] | None = None,
        deployment_secret: Callable[[], Awaitable[str | None]] | None = None,
        trusts_issuer: Callable[[str | None], Awaitable[bool]] | None = None,
    ) -> None:
        """`anonymous_registry` names the registry open to anonymous push and pull, if any;
        `registry_of_host` names the registry a token's audience (a login server) addresses;
        `deployment_secret` tells the fingerprint of the deployment administrator's current
        password (its tokens are refused without one); `trusts_issuer` tells whether an issuer
        is still trusted (federated identities of one that is not are refused)."""
        self._trusts_issuer = trusts_issuer
        self._secrets = SecretChecks(stores, hasher, deployment_secret)
        self._registry_of_host = registry_of_host
        self._stores = stores
        self._throttle = throttle
        self._keys = keys
        self._anonymous_registry = anonymous_registry
        self._claimed: OrderedDict[str, AccessGrant] = OrderedDict()

    async def authorize(
        self,
        registry: RegistryRecord,
        credentials: Credentials,
        required: tuple[Scope, ...],
        *,
        client: str,
        host: str = "",
    ) -> AccessGrant:
        """The caller's grant if it covers `required`; raises Unauthorized or Denied if not.

        `client` is the caller's network address, which Basic logins are throttled by; `host`
        the Host it addressed (the open registry is open to loopback names only)."""
        if credentials is None:
            if not required and not self.is_open(registry, host):
                # `/v2/` answers 401 unless the registry is fully open, as ACR's does even
                # with anonymous pull: `docker login` must be challenged to check credentials.
                raise Unauthorized("authentication required")
            grant = await self.anonymous_grant(registry, required, host=host)
            self._require(grant, required, Unauthorized, "authentication required")
            return grant
        if isinstance(credentials, Malformed):
            raise credentials.error()
        if isinstance(credentials, Basic):
            identity = await self.authenticate(
                registry, credentials.username, credentials.password, client=client
            )
            current = await self.grant_for(registry, identity, required)
            if current is None:
                raise Unauthorized("credentials are no longer valid")
            self._require(current, required, Denied, "requested access to the resource is denied")
            return current
        grant = await self._bearer_grant(registry, credentials.token, required, host)
        if not all(_covered(grant, scope) for scope in required):
            raise Unauthorized("insufficient scope", required, insufficient=True)
        return grant

    async def authenticate(
        self, registry: RegistryRecord, username: str, password: str, *, client: str
    ) -> Identity:
        """Check a user name and password (or the null GUID and a refresh token).

        To issue tokens, use `login`: they must carry the secret it names.
        """
        return (await self.login(registry, username, password, client=client)).identity

    async def login(
        self, registry: RegistryRecord, username: str, password: str, *, client: str
    ) -> Login:
        """`authenticate`, also telling which stored secret was proved.

        Password attempts are throttled per registry, user name and client address, and
        counted before the slow verification. Refresh tokens (the null GUID) are not: their
        check is a signature, cheap, and one shared name must not be lockable by anyone.
        """
        if username == NULL_GUID:
            try:
                return await self.refresh_login(registry, password)
            except Unauthorized:
                raise Unauthorized("invalid username or password") from None
        # Names are short; a long one is cut so that junk cannot bloat the throttle's keys.
        key = f"{registry.id}/{username.lower()[:256]}/{client}"
        login = await self._throttle.attempt(
            key,
            lambda: self._secrets.check_password(registry, username, password),
            locked=f"too many failed logins for {username!r}; retry later",
        )
        if login is None:
            raise Unauthorized("invalid username or password")
        return login

    async def refresh_login(self, registry: RegistryRecord, refresh_token: str) -> Login:
        """The identity a refresh token of this registry names, with the stored secret it is bound
        to (still current)."""
        claims = await self._keys.verify(refresh_token, kind="refresh_token")
        # Used seldom and long-lived: make sure its key was not retired since this node loaded.
        await self._keys.confirm(refresh_token)
        if not _names(claims, registry):
            raise Unauthorized("refresh token was issued for another registry")
        identity = identity_of(claims)
        ends = session_end_of(claims)
        if ends is not None and ends <= utcnow():
            raise Unauthorized("the session has ended: sign in at the identity provider again")
        if identity.kind == "federated" and not await self._trusted(identity):
            raise Unauthorized("the identity provider is no longer trusted")
        return Login(identity, await self._secrets.bound_secret(registry, identity, claims), ends)

    def is_open(self, registry: RegistryRecord, host: str) -> bool:
        """True if `registry` is the open development registry and `host` a loopback name.

        The server listens on loopback, but a request may still come from elsewhere under
        another name: a web page whose name its DNS rebound to 127.0.0.1, or a proxy on this
        machine. Those are not the local user, so they need credentials."""
        return registry.name == self._anonymous_registry and loopback_host(host)

    async def anonymous_grant(
        self, registry: RegistryRecord, wanted: tuple[Scope, ...], *, host: str = ""
    ) -> AccessGrant:
        """What anyone may do without credentials, at the Host `host`.

        Anonymous pull also lets anyone read the metadata and list the catalog, as ACR does
        (Microsoft's SDK lists repositories and tags anonymously); a catalog open through
        per-repository anonymous pull shows the public repositories only.
        """
        if self.is_open(registry, host):
            return EVERYTHING
        if registry.anonymous_pull:
            return AccessGrant(
                permissions=(Permission(RepositoryPattern.parse("*"), ANONYMOUS_PULL),),
                catalog=True,
            )
        store = self._stores.registries
        catalog = any((s.type, s.name) == _CATALOG for s in wanted)
        if catalog:
            public = await store.all_anonymous_repositories(registry.id)
        else:
            names = [
                s.name
                for s in wanted
                if s.type == "repository" and s.actions & (ANONYMOUS_PULL | {"*"})
            ]
            public = await store.anonymous_repositories(registry.id, names) if names else set()
        if not public:
            return AccessGrant()
        permissions = tuple(
            Permission(RepositoryPattern(name), ANONYMOUS_PULL) for name in sorted(public)
        )
        return AccessGrant(permissions=permissions, catalog=catalog)

    async def grant_for(
        self,
        registry: RegistryRecord,
        identity: Identity,
        wanted: tuple[Scope, ...] = (),
        *,
        host: str = "",
    ) -> AccessGrant | None:
        """What `identity` may do in `registry` now, asking at the Host `host` (which only
        anonymous callers' grants depend on); None if it is no longer valid there."""
        kind = identity.kind
        if kind == "anonymous":
            return await self.anonymous_grant(registry, wanted, host=host)
        if kind == "deployment":
            return EVERYTHING
        if kind == "admin":
            return EVERYTHING if registry.admin_enabled else None
        if kind == "token":
            return await self._token_grant(registry, identity.subject)
        principals: list[tuple[str, str]]
        if kind == "sp":
            if await self._stores.principals.get(identity.subject) is None:
                return None
            principals = [("sp", identity.subject)]
        else:
            if not await self._trusted(identity):
                return None
            principals = [("subject", identity.subject)]
            principals += [("group", group) for group in identity.groups]
        # Subject and group names are only unique per issuer: match (issuer, name), never the
        # name alone (service principals have no issuer; `Identity` has one for federated).
        assignments = await self._stores.roles.of_principals(
            registry.id, principals, issuer=identity.issuer
        )
        permissions = tuple(
            Permission(RepositoryPattern.parse(a.repositories), role_actions(a.role))
            for a in assignments
        )
        return AccessGrant(permissions=permissions, catalog=True)

    async def _trusted(self, identity: Identity) -> bool:
        """False if `identity` belongs to an issuer that is no longer trusted."""
        return self._trusts_issuer is None or await self._trusts_issuer(identity.issuer)

    async def _token_grant(self, registry: RegistryRecord, name: str) -> AccessGrant | None:
        token = await self._stores.tokens.get(registry.id, name)
        if token is None or not token.enabled:
            return None
        scope_map = await self._stores.scope_maps.get(registry.id, token.scope_map)
        if scope_map is None:
            return None
        by_pattern: dict[RepositoryPattern, set[str]] = {}
        for text in scope_map.actions:
            pattern, action = parse_scope_map_action(text)
            by_pattern.setdefault(pattern, set()).add(action)
        permissions = tuple(Permission(p, frozenset(a)) for p, a in by_pattern.items())
        return AccessGrant(permissions=permissions, catalog=True)

    async def secret_expiry(
        self, registry: RegistryRecord, identity: Identity, fingerprint: str | None
    ) -> datetime | None:
        """When the secret `identity` proved expires (None: never); Unauthorized if it is not a
        current secret of the identity any more (services/access/secrets.py)."""
        return await self._secrets.secret_expiry(registry, identity, fingerprint)

    async def _bearer_grant(
        self, registry: RegistryRecord, token: str, required: tuple[Scope, ...], host: str
    ) -> AccessGrant:
        claims = await self._keys.verify(token, kind="access_token")
        if not _names(claims, registry):
            raise Unauthorized("token was issued for another registry")
        secret_expiry = claims.get("sexp")
        if secret_expiry is not None and (
            not isinstance(secret_expiry, int) or secret_expiry <= utcnow().timestamp()
        ):
            raise Unauthorized("credentials are no longer valid")
        audience = claims.get("aud")
        if self._registry_of_host is not None and (
            not isinstance(audience, str) or self._registry_of_host(audience) != registry.name
        ):
            raise Unauthorized("token is for another service")
        granted = self._granted_by(token, claims)
        identity = identity_of(claims)
        current: AccessGrant | None = None
        # An anonymous token of the open registry holds what it was given at a loopback name:
        # elsewhere, what anyone may do there is asked again.
        elsewhere = registry.name == self._anonymous_registry and not loopback_host(host)
        if claims.get("ver") == registry.auth_version and not (
            identity.kind == "anonymous" and elsewhere
        ):
            result = granted
        else:
            # Something changed since: also make sure no retired key signed the token.
            await self._keys.confirm(token)
            current = await self.grant_for(registry, identity, required, host=host)
            if current is None:
                raise Unauthorized("credentials are no longer valid")
            await self._secrets.bound_secret(registry, identity, claims)
            narrowed = current.intersect(granted.exact)
            result = AccessGrant(exact=narrowed, catalog=granted.catalog and current.catalog)
        if result.catalog and any((s.type, s.name) == _CATALOG for s in required):
            # The catalog lists the repositories the identity may see, which a token asked
            # for `registry:catalog:*` alone does not name: the listing uses its current grant.
            if current is None:
                current = await self.grant_for(registry, identity, required, host=host)
                if current is None:
                    raise Unauthorized("credentials are no longer valid")
            return AccessGrant(
                permissions=current.permissions, catalog=True, exact=current.exact + result.exact
            )
        return result

    def _granted_by(self, token: str, claims: dict[str, object]) -> AccessGrant:
        """What a verified token's `access` claim grants: a function of the signed token alone,
        so it is parsed once per token (and parsed again once forgotten)."""
        granted = self._claimed.get(token)
        if granted is not None:
            self._claimed.move_to_end(token)
            return granted
        try:
            granted = AccessGrant.from_access_claim(claims.get("access", []))
        except ValueError:
            raise Unauthorized("token carries a malformed access claim") from None
        self._claimed[token] = granted
        if len(self._claimed) > _CLAIMED:
            self._claimed.popitem(last=False)
        return granted

    @staticmethod
    def _require(
        grant: AccessGrant,
        required: tuple[Scope, ...],
        error: type[Unauthorized] | type[Denied],
        message: str,
    ) -> None:
        if not all(_covered(grant, scope) for scope in required):
            raise error(message, required)


def _names(claims: dict[str, object], registry: RegistryRecord) -> bool:
    """True if a token's claims name `registry`: its id and its uid, which is never reused."""
    return claims.get("reg") == registry.id and claims.get("rid") == registry.uid


def _covered(grant: AccessGrant, scope: Scope) -> bool:
    return all(grant.allows(scope.type, scope.name, action) for action in scope.actions)
