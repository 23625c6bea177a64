"""`CredentialSetService`: a registry's credentials for upstream registries, like
`az acr credential-set`: create, list, show, update, delete.

Contract (stable; imports and cache rules build on it):

    view = await service.create(registry, name, CredentialSetSpec(login_server, user, pw))
    views = await service.list(registry); view = await service.show(registry, name)
    view = await service.update(registry, name, CredentialSetSpec(password=...))
    await service.delete(registry, name)
    found = await service.credentials(registry, name)  # UpstreamLogin: login server + secret

Every answer but `credentials` is a CredentialSetView, which has no password at all (the API
shows MASK). The password is sealed with the deployment key (services/imports/sealing.py)
before it reaches the database; only `credentials`, for the import and cache services that
log in to the upstream, ever opens it. Errors: Invalid (bad name, login server, user name or
password), NotFound, Conflict (the name is taken; SealBroken when the key is gone).
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portside.metadata.credential_sets import CredentialSetRecord, CredentialSetStore
from portside.metadata.registries import RegistryStore
from portside.services.imports.errors import UpstreamRefused
from portside.services.imports.sealing import SecretBox
from portside.services.imports.upstream import UpstreamCredentials, split_upstream
from portside.services.management.errors import Conflict, Invalid, NotFound

__all__ = [
    "MASK",
    "CredentialSetService",
    "CredentialSetSpec",
    "CredentialSetView",
    "UpstreamLogin",
]

MASK = "*****"
"""What a password is shown as."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{4,49}")
MAX_USERNAME = 255
MAX_PASSWORD = 8192


@dataclass(frozen=True, slots=True)
class CredentialSetSpec:
    """What a create or update asks for; None keeps (update) or is missing (create)."""

    login_server: str | None = None
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return f"CredentialSetSpec({self.login_server!r}, {self.username!r}, password=...)"


@dataclass(frozen=True, slots=True)
class CredentialSetView:
    """A credential set as shown: everything but the password."""

    name: str
    login_server: str
    username: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UpstreamLogin:
    """An opened credential set: where it logs in and with what."""

    name: str
    login_server: str
    credentials: UpstreamCredentials


def _view(record: CredentialSetRecord) -> CredentialSetView:
    return CredentialSetView(
        record.name, record.login_server, record.username, record.created_at, record.updated_at
    )


def _login_server(text: str) -> str:
    try:
        split_upstream(text)
    except UpstreamRefused:
        raise Invalid(f"login server {text[:100]!r} is not a host[:port]") from None
    return text.strip().lower()


def _username(text: str) -> str:
    if not text or len(text) > MAX_USERNAME or any(c in text for c in ":\r\n"):
        raise Invalid(f"a user name is 1 to {MAX_USERNAME} characters, without ':'")
    return text


def _password(text: str) -> str:
    if not text or len(text) > MAX_PASSWORD or any(c in text for c in "\r\n"):
        raise Invalid(f"a password is 1 to {MAX_PASSWORD} characters on one line")
    return text


def _context(registry_id: int, name: str) -> str:
    return f"credential-set/{registry_id}/{name}"


class CredentialSetService:
    """Credential sets of registries."""

    def __init__(self, registries: RegistryStore, store: CredentialSetStore, box: SecretBox):
        self._registries = registries
        self._store = store
        self._box = box

    async def create(self, registry: str, name: str, spec: CredentialSetSpec) -> CredentialSetView:
        """Add a credential set; Invalid for a bad field, Conflict if the name is taken."""
        registry_id = await self._registry_id(registry)
        if not _NAME.fullmatch(name):
            raise Invalid("a credential set name is 5 to 50 letters, digits and hyphens")
        if spec.login_server is None or spec.username is None or spec.password is None:
            raise Invalid("a credential set needs a login server, a user name and a password")
        login_server = _login_server(spec.login_server)
        username = _username(spec.username)
        kid, sealed = await self._box.seal(_password(spec.password), _context(registry_id, name))
        created = await self._store.create(registry_id, name, login_server, username, sealed, kid)
        if created is None:
            raise Conflict(f"credential set {name!r} already exists in {registry!r}")
        return _view(created)

    async def list(self, registry: str) -> builtins.list[CredentialSetView]:
        """The registry's credential sets by name."""
        return [_view(r) for r in await self._store.list(await self._registry_id(registry))]

    async def show(self, registry: str, name: str) -> CredentialSetView:
        """One credential set; NotFound if there is none."""
        return _view(await self._record(registry, name))

    async def update(self, registry: str, name: str, spec: CredentialSetSpec) -> CredentialSetView:
        """Change what `spec` names (a new password is sealed anew); a new login server is
        Invalid without a new password."""
        record = await self._record(registry, name)
        changes: dict[str, Any] = {}
        if spec.login_server is not None:
            changes["login_server"] = _login_server(spec.login_server)
            if changes["login_server"] != record.login_server and spec.password is None:
                # The stored password was given for the old server: pointing the set at
                # another host without it would hand that password to whoever runs that host.
                raise Invalid("a new login server needs the password for it as well")
        if spec.username is not None:
            changes["username"] = _username(spec.username)
        if spec.password is not None:
            context = _context(record.registry_id, name)
            kid, sealed = await self._box.seal(_password(spec.password), context)
            changes.update(password_sealed=sealed, key_id=kid)
        if not changes:
            return _view(record)
        updated = await self._store.update(record.registry_id, name, changes)
        if updated is None:
            raise NotFound(f"credential set {name!r} does not exist in {registry!r}")
        return _view(updated)

    async def delete(self, registry: str, name: str) -> None:
        """Remove a credential set."""
        record = await self._record(registry, name)
        if not await self._store.delete(record.registry_id, name):
            raise NotFound(f"credential set {name!r} does not exist in {registry!r}")

    async def credentials(self, registry: str, name: str) -> UpstreamLogin:
        """The login server and opened credentials, for logging in to the upstream."""
        record = await self._record(registry, name)
        password = await self._box.open(
            record.key_id, record.password_sealed, _context(record.registry_id, name)
        )
        return UpstreamLogin(
            name, record.login_server, UpstreamCredentials(record.username, password)
        )

    async def _registry_id(self, registry: str) -> int:
        record = await self._registries.get(registry.lower()) if len(registry) <= 64 else None
        if record is None:
            raise NotFound(f"registry {registry[:64]!r} does not exist")
        return record.id

    async def _record(self, registry: str, name: str) -> CredentialSetRecord:
        registry_id = await self._registry_id(registry)
        found = await self._store.get(registry_id, name) if len(name) <= 50 else None
        if found is None:
            raise NotFound(f"credential set {name[:50]!r} does not exist in {registry!r}")
        return found
