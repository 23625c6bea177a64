"""Who may use the management API: the deployment administrator, and service principals
holding Contributor or Owner in a registry.

The deployment administrator signs in as `admin` with the password of the `admin_password`
setting (compared in constant time; nothing is stored) or, when that is unset, with a password
generated at first start: only its argon2id hash is stored, and the clear value is handed to
the caller once, to print. `portside admin reset-password` replaces a lost one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import anyio

from portside.auth.claims import secret_fingerprint
from portside.auth.errors import Denied, Unauthorized
from portside.auth.permissions import MANAGE_ROLES
from portside.auth.secrets import SecretHasher, constant_time_equals, new_secret
from portside.auth.throttle import LoginThrottle
from portside.metadata.credentials import CredentialStore
from portside.metadata.records import RegistryRecord
from portside.services.management.identities import (
    PrincipalManagement,
    canonical_principal_id,
)

__all__ = ["ADMIN_USER", "Caller", "DeploymentAdmin", "ManagementAuth"]

ADMIN_USER = "admin"
"""The deployment administrator's user name on the management API."""

_OWNER = ("deployment", "admin")
_PASSWORD = "password"
# What a configured password is stretched with before its fingerprint goes into tokens, so
# that a token does not make a weak configured password cheap to guess offline.
_CONFIGURED_SALT = b"portside deployment administrator"
_CONFIGURED_ROUNDS = 200_000


class DeploymentAdmin:
    """The deployment administrator's password: configured, or generated and stored hashed."""

    def __init__(
        self,
        credentials: CredentialStore,
        hasher: SecretHasher,
    ) -> None:
        """Keep the hash in `credentials` under ("deployment", "admin", "password"); storing a
        new one moves every registry's auth version in the same transaction (its access
        tokens end)."""
        self._credentials = credentials
        self._hasher = hasher
        self._configured: str | None = None
        self._configured_fingerprint: str | None = None

    async def ensure(self, configured_password: str | None) -> str | None:
        """Make sure the administrator has a password; a newly generated one is returned once.

        With `configured_password` (the `admin_password` setting), that one is used and
        nothing is stored. Otherwise, if no password is stored yet, one is generated, its hash
        stored and its value returned for the caller to print; else None. Call it once per
        deployment start before worker processes start, so that they do not race to create it.
        """
        if configured_password:
            self._configured = configured_password
            stretched = await anyio.to_thread.run_sync(
                hashlib.pbkdf2_hmac,
                "sha256",
                configured_password.encode("utf-8"),
                _CONFIGURED_SALT,
                _CONFIGURED_ROUNDS,
            )
            self._configured_fingerprint = secret_fingerprint("configured:" + stretched.hex())
            return None
        self._configured = self._configured_fingerprint = None
        if await self._credentials.of(*_OWNER):
            return None
        value = new_secret()
        encoded = await self._hasher.hash_in_thread(value)
        await self._credentials.put(*_OWNER, _PASSWORD, encoded)
        return value

    async def verify(self, password: str) -> bool:
        """True if `password` is the administrator's password."""
        return await self.login(password) is not None

    async def login(self, password: str) -> str | None:
        """The fingerprint of the administrator's password if `password` is it, else None.

        The fingerprint is that of the password just proved, not one read again afterwards: a
        reset landing during the slow check must not bind the caller's tokens to the new one.
        """
        if not password:
            return None
        if self._configured is not None:
            matches = constant_time_equals(password, self._configured)
            return self._configured_fingerprint if matches else None
        for credential in await self._credentials.of(*_OWNER):
            if credential.name == _PASSWORD and await self._hasher.verify_in_thread(
                credential.hash, password
            ):
                return secret_fingerprint(credential.hash)
        return None

    async def fingerprint(self) -> str | None:
        """The fingerprint of the current password, which the administrator's tokens carry
        (`sec`): a reset, or a change of the configured one, ends them. None without one."""
        if self._configured_fingerprint is not None:
            return self._configured_fingerprint
        for credential in await self._credentials.of(*_OWNER):
            if credential.name == _PASSWORD:
                return secret_fingerprint(credential.hash)
        return None

    async def reset(self) -> str:
        """Generate a new stored password (the old one stops working); its value, once.

        The administrator's refresh tokens end at once (they carry the old password's
        fingerprint), and so do its access tokens: every registry's auth version moves.
        Has no effect on sign-in while `admin_password` is configured: that one wins.
        """
        value = new_secret()
        encoded = await self._hasher.hash_in_thread(value)
        await self._credentials.put(*_OWNER, _PASSWORD, encoded)
        return value


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated management caller: the administrator, or a service principal."""

    kind: str
    id: str
    # Fingerprint of the secret (the administrator's password, a service principal's secret)
    # the caller signed in with: refresh tokens issued to it are bound to that secret, as the
    # token endpoint's are.
    secret: str | None = None

    @property
    def is_admin(self) -> bool:
        """True for the deployment administrator."""
        return self.kind == "admin"


class ManagementAuth:
    """Authenticates management callers (throttled per user name and address) and checks what
    they may do."""

    def __init__(
        self,
        admin: DeploymentAdmin,
        principals: PrincipalManagement,
        throttle: LoginThrottle,
    ) -> None:
        """Check the administrator with `admin`, service principals with `principals`."""
        self._admin = admin
        self._principals = principals
        self._throttle = throttle

    async def authenticate(self, username: str, password: str, *, client: str = "") -> Caller:
        """The caller these Basic credentials name; Unauthorized or Throttled otherwise.

        Attempts are counted before the slow verification, per user name and client address
        (`client`; without one, per user name alone)."""
        # A principal's id has many spellings (services/management/identities.py): one count.
        name = canonical_principal_id(username) or username.lower()[:128]
        key = f"management/{name}/{client}"
        caller = await self._throttle.attempt(
            key,
            lambda: self._verify(username, password),
            locked="too many failed sign-ins for this user; retry later",
        )
        if caller is None:
            raise Unauthorized("invalid user name or password")
        return caller

    async def _verify(self, username: str, password: str) -> Caller | None:
        if username == ADMIN_USER:
            fingerprint = await self._admin.login(password)
            return None if fingerprint is None else Caller("admin", ADMIN_USER, fingerprint)
        fingerprint = await self._principals.verify_secret(username, password)
        if fingerprint is None:
            return None
        return Caller("sp", canonical_principal_id(username), fingerprint)

    def require_admin(self, caller: Caller) -> None:
        """Denied unless the caller is the deployment administrator."""
        if not caller.is_admin:
            raise Denied("only the deployment administrator may do this")

    async def roles_in(self, caller: Caller, registry: RegistryRecord) -> frozenset[str]:
        """The management roles (Contributor, Owner) a caller holds over a whole registry."""
        if caller.is_admin:
            return MANAGE_ROLES
        held = await self._principals.management_roles(registry.id, caller.id)
        return held & MANAGE_ROLES

    async def require_registry(
        self, caller: Caller, registry: RegistryRecord, *, owner: bool = False
    ) -> None:
        """Denied unless the caller may manage `registry` (with `owner`: its role assignments)."""
        roles = await self.roles_in(caller, registry)
        if "Owner" in roles or (not owner and "Contributor" in roles):
            return
        needed = "Owner" if owner else "Contributor or Owner"
        raise Denied(f"this needs the {needed} role on the whole registry")
