"""Secrets behind logins and tokens: which identity a user name and password prove, and
whether the secret a token is bound to (its `sec` fingerprint) is still a current one.

Used by the access policy (policy.py); argon2 runs through the hasher's own thread limiter.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from portside.auth.claims import secret_fingerprint
from portside.auth.errors import Unauthorized
from portside.auth.identity import SECRET_KINDS, Identity, Login
from portside.auth.secrets import SecretHasher
from portside.metadata.records import CredentialRecord, RegistryRecord
from portside.services.access.logins import current_secrets, matching_secret

if TYPE_CHECKING:
    from portside.services.access.policy import AccessStores

__all__ = ["SecretChecks"]

# No identity's name holds control characters; PostgreSQL even refuses NUL in a query.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SecretChecks:
    """Password checks and token-secret bindings over the credential, token and principal
    stores."""

    def __init__(
        self,
        stores: AccessStores,
        hasher: SecretHasher,
        deployment_secret: Callable[[], Awaitable[str | None]] | None,
    ) -> None:
        """`deployment_secret` tells the fingerprint of the deployment administrator's current
        password (its tokens are refused without one)."""
        self._stores = stores
        self._hasher = hasher
        self._deployment_secret = deployment_secret

    async def check_password(
        self, registry: RegistryRecord, username: str, password: str
    ) -> Login | None:
        if not username or not password or _CONTROL.search(username):
            return None
        if username == registry.name:
            if not registry.admin_enabled:
                return None
            owner: tuple[str, str] | None = ("admin", str(registry.id))
            identity = Identity("admin", registry.name)
        elif (token := await self._stores.tokens.get(registry.id, username)) is not None:
            if not token.enabled:
                return None
            owner, identity = ("token", str(token.id)), Identity("token", username)
        elif await self._stores.principals.get(username) is not None:
            owner, identity = ("sp", username), Identity("sp", username)
        else:
            owner = None
        if owner is None:
            return None
        fingerprint = await matching_secret(
            self._stores.credentials, self._hasher, *owner, password
        )
        return None if fingerprint is None else Login(identity, fingerprint)

    async def bound_secret(
        self, registry: RegistryRecord, identity: Identity, claims: dict[str, object]
    ) -> str | None:
        """The `sec` claim of a token, if the secret it names is still a current one.

        Raises Unauthorized when an identity that logs in with a secret has a token without
        one, or with one that was renewed, removed or has expired since.
        """
        if identity.kind not in SECRET_KINDS:
            return None
        fingerprint = claims.get("sec")
        if not isinstance(fingerprint, str):
            raise Unauthorized("credentials are no longer valid")
        await self.secret_expiry(registry, identity, fingerprint)
        return fingerprint

    async def secret_expiry(
        self, registry: RegistryRecord, identity: Identity, fingerprint: str | None
    ) -> datetime | None:
        """When the secret `identity` proved (fingerprint `fingerprint`) expires (None: never).

        Raises Unauthorized if it is not a current secret of the identity any more (renewed,
        removed, expired, reset), or if an identity that logs in with a secret names none."""
        if identity.kind not in SECRET_KINDS:
            return None
        if fingerprint is None:
            raise Unauthorized("credentials are no longer valid")
        if identity.kind == "deployment":
            if self._deployment_secret is None or fingerprint != await self._deployment_secret():
                raise Unauthorized("credentials are no longer valid")
            return None
        credential = await self._current_secret(registry, identity, fingerprint)
        if credential is None:
            raise Unauthorized("credentials are no longer valid")
        return credential.expires_at

    async def _current_secret(
        self, registry: RegistryRecord, identity: Identity, fingerprint: str
    ) -> CredentialRecord | None:
        """The identity's unexpired stored secret with this fingerprint, if any."""
        owner = await self._owner_of(registry, identity)
        if owner is None:
            return None
        for credential in await current_secrets(self._stores.credentials, *owner):
            if secret_fingerprint(credential.hash) == fingerprint:
                return credential
        return None

    async def _owner_of(
        self, registry: RegistryRecord, identity: Identity
    ) -> tuple[str, str] | None:
        """Whose stored secrets an identity logs in with (None if it no longer exists)."""
        if identity.kind == "admin":
            return ("admin", str(registry.id)) if identity.subject == registry.name else None
        if identity.kind == "token":
            token = await self._stores.tokens.get(registry.id, identity.subject)
            return None if token is None else ("token", str(token.id))
        if identity.kind == "sp":
            return ("sp", identity.subject)
        return None
