"""Managing registries: create (with their system scope maps), list, show, update (settings
and quota overrides), delete; usage against limits; the admin user's credentials; anonymous
pull of one repository.

The admin user is a deliberate difference from ACR. ACR's `credential show` returns the admin
passwords themselves; Portside stores only argon2id hashes, so it cannot. A password's value
is returned once, by the call that generates it: enabling the admin user (when it has no
passwords yet, both are generated) and `renew_password`. `credentials` lists the user name and,
for each password, its name and creation time.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from dataclasses import dataclass

from portside.auth.errors import Denied
from portside.metadata.records import RegistryRecord
from portside.metadata.registries import QUOTA_COLUMNS, RATE_COLUMNS
from portside.oci.errors import NameInvalid
from portside.oci.names import validate_name
from portside.services.access.hosts import LocalLoginServers
from portside.services.access.throttling import RateLimits, rate_limits
from portside.services.lifecycle.usage import QUOTAS, UsageReport
from portside.services.management.admin import Caller
from portside.services.management.context import ManagementContext, SecretInfo
from portside.services.management.errors import Conflict, Invalid, NotFound

__all__ = [
    "ADMIN_PASSWORDS",
    "SKUS",
    "SYSTEM_SCOPE_MAPS",
    "AdminCredentials",
    "RegistryManagement",
    "RegistryView",
    "validate_registry_name",
]

SKUS = ("Basic", "Standard", "Premium")
"""Service tiers, as ACR names them; each has default quotas (metadata/usage.py SKU_LIMITS)."""

# Largest quota overrides: the columns' ranges (storage is 64-bit, counts 32-bit).
_MAX_BYTES = (1 << 63) - 1
_MAX_COUNT = (1 << 31) - 1

ADMIN_PASSWORDS = ("password", "password2")
"""The admin user's two passwords, so that one can be renewed while the other is in use."""

_ALL = ("content/read", "content/write", "content/delete", "metadata/read", "metadata/write")
SYSTEM_SCOPE_MAPS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "_repositories_admin": (
        "Can perform all read, write and delete operations on the registry",
        tuple(f"repositories/*/{action}" for action in _ALL),
    ),
    "_repositories_pull": (
        "Can pull any repository of the registry",
        ("repositories/*/content/read",),
    ),
    "_repositories_push": (
        "Can push to any repository of the registry",
        ("repositories/*/content/read", "repositories/*/content/write"),
    ),
}
"""Scope maps every registry has, as ACR creates them: name -> (description, actions)."""

# Lowercase letters and digits, starting with a letter: a DNS label of the login server.
_NAME = re.compile(r"[a-z][a-z0-9]{1,49}")


def validate_registry_name(name: str) -> str:
    """`name` if it is a valid registry name; Invalid saying why otherwise.

    ACR allows 5-50 alphanumerics; Portside accepts 2-50 lowercase letters and digits starting
    with a letter (so `default` and short names work). The name is a host label, which is
    case-insensitive, so it is stored lowercase and uppercase is refused rather than folded.
    """
    if _NAME.fullmatch(name):
        return name
    if _NAME.fullmatch(name.lower()):
        raise Invalid(f"registry name {name!r} must be lowercase")
    raise Invalid(
        f"invalid registry name {name[:60]!r}: use 2-50 lowercase letters and digits, "
        "starting with a letter"
    )


_UNLIMITED = RateLimits(None, None)


@dataclass(frozen=True, slots=True)
class RegistryView:
    """A registry with its login server; `passwords` only when admin passwords were just made."""

    record: RegistryRecord
    login_server: str
    default: bool
    passwords: tuple[SecretInfo, ...] = ()
    # What the registry's request rate limits are (its overrides, else its SKU's).
    rate_limits: RateLimits = _UNLIMITED


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    """The admin user of a registry: its user name, whether enabled, its passwords (no values)."""

    username: str
    enabled: bool
    passwords: tuple[SecretInfo, ...]


class RegistryManagement:
    """Registries of the deployment and their admin users."""

    def __init__(
        self,
        context: ManagementContext,
        *,
        domain: str,
        port: int,
        default_registry: str,
        local: LocalLoginServers | None = None,
    ) -> None:
        """Login servers are `NAME.<domain>[:port]`, or the registry's loopback login server
        when `local` is given (the server listens on loopback only); `default_registry` is the
        server's own."""
        self._context = context
        self._stores = context.stores
        self._domain = domain
        self._port = port
        self._local = local
        self.default_registry = default_registry

    def login_server(self, record: RegistryRecord, host: str | None = None) -> str:
        """The login server of a registry.

        The default registry answers at the server's own address: `host` (the Host the caller
        used) when given, else `<domain>[:port]`. Another registry answers at its loopback
        login server (`127.0.0.1:5001`) while the server listens on loopback only and the
        registry's login slot has a port, else at `NAME.<domain>`, plus `:port` unless 443.
        """
        suffix = "" if self._port == 443 else f":{self._port}"
        if record.name == self.default_registry:
            return host or f"{self._domain}{suffix}"
        local = self._local.login_server(record.login_slot) if self._local else None
        return local or f"{record.name}.{self._domain}{suffix}"

    def view(
        self,
        record: RegistryRecord,
        host: str | None = None,
        passwords: tuple[SecretInfo, ...] = (),
    ) -> RegistryView:
        """A registry record as the API shows it."""
        default = record.name == self.default_registry
        limits = rate_limits(record, default_registry=self.default_registry)
        return RegistryView(record, self.login_server(record, host), default, passwords, limits)

    async def create(
        self,
        name: str,
        sku: str = "Standard",
        admin_enabled: bool = False,
        anonymous_pull: bool = False,
        immutable_tags: bool = False,
        *,
        host: str | None = None,
    ) -> RegistryView:
        """Create a registry with its system scope maps; Conflict if the name is taken.

        With the admin user enabled, its two passwords are generated and returned (once).
        """
        validate_registry_name(name)
        _check_sku(sku)
        record = await self._stores.registries.create(
            name,
            # Every registry made here gets one, also off loopback: moved onto loopback (a
            # copy of the data on a laptop), the registry has its port at once.
            login_slot=True,
            sku=sku,
            admin_enabled=admin_enabled,
            anonymous_pull=anonymous_pull,
            immutable_tags=immutable_tags,
        )
        if record is None:
            raise Conflict(f"registry {name!r} already exists")
        await self._ensure_system_maps(record)
        passwords = await self._first_passwords(record) if admin_enabled else ()
        return self.view(record, host, passwords)

    async def ensure_registry(self, name: str) -> RegistryRecord:
        """The registry `name`, created with its system scope maps if missing (idempotent).

        Run at server start for the default registry; also restores missing system maps.
        """
        validate_registry_name(name)
        record, _ = await self._stores.registries.ensure(name)
        await self._ensure_system_maps(record)
        return record

    async def list(self, host: str | None = None) -> builtins.list[RegistryView]:
        """Every registry, by name."""
        return [self.view(record, host) for record in await self._stores.registries.list()]

    async def show(self, name: str, host: str | None = None) -> RegistryView:
        """One registry; NotFound if it does not exist."""
        return self.view(await self._context.registry(name), host)

    async def update(
        self,
        name: str,
        *,
        caller: Caller,
        sku: str | None = None,
        admin_enabled: bool | None = None,
        anonymous_pull: bool | None = None,
        immutable_tags: bool | None = None,
        quotas: Mapping[str, int | None] | None = None,
        rates: Mapping[str, int | None] | None = None,
        host: str | None = None,
    ) -> RegistryView:
        """Change settings; enabling an admin user without passwords returns new ones (once).

        `quotas` overrides limits by quota name (`storage_bytes`, `repositories`, `tokens`,
        `scope_maps`, `webhooks`); None for one resets it to the SKU's default. A limit below
        what is used already is allowed: it refuses what would add more. `rates` overrides the
        request rate limits (`read_ops_per_minute`, `write_ops_per_minute`): None for one
        goes back to the SKU's, 0 is unlimited.

        Quotas and the SKU (whose defaults they are) bound what a registry's own managers do:
        only the deployment administrator changes them; anyone else gets Denied.
        """
        record = await self._context.registry(name)
        if sku is not None:
            _check_sku(sku)
        if not caller.is_admin:
            if quotas:
                raise Denied("only the deployment administrator may change a registry's quotas")
            if rates:
                raise Denied(
                    "only the deployment administrator may change a registry's rate limits"
                )
            if sku is not None and sku != record.sku:
                raise Denied("only the deployment administrator may change a registry's SKU")
        settings: dict[str, object] = {
            key: value
            for key, value in (
                ("sku", sku),
                ("admin_enabled", admin_enabled),
                ("anonymous_pull", anonymous_pull),
                ("immutable_tags", immutable_tags),
            )
            if value is not None
        }
        settings.update(_quota_settings(quotas or {}))
        settings.update(_rate_settings(rates or {}))
        if settings:
            updated = await self._stores.registries.update(record.name, settings)
            if updated is None:
                raise NotFound(f"registry {name!r} does not exist")
            record = updated
        passwords: tuple[SecretInfo, ...] = ()
        if admin_enabled and not await self._context.secrets_of("admin", str(record.id)):
            passwords = await self._first_passwords(record)
        return self.view(record, host, passwords)

    async def usage(self, name: str) -> UsageReport:
        """What the registry uses of each quota, with its limits."""
        return await self._context.usage.report(await self._context.registry(name))

    async def delete(self, name: str) -> None:
        """Remove a registry and everything in it; the default registry cannot be removed."""
        record = await self._context.registry(name)
        if record.name == self.default_registry:
            raise Conflict(
                f"{record.name!r} is the server's default registry; it cannot be deleted"
            )
        if not await self._stores.registries.delete(record.name):
            raise NotFound(f"registry {name!r} does not exist")

    async def credentials(self, name: str) -> AdminCredentials:
        """The admin user: name, enabled, and each password's name and creation time.

        Unlike ACR, password values are not returned: only their hashes are stored.
        """
        record = await self._context.registry(name)
        passwords = await self._context.secrets_of("admin", str(record.id))
        return AdminCredentials(record.name, record.admin_enabled, passwords)

    async def renew_password(self, name: str, password_name: str) -> SecretInfo:
        """Replace one admin password (`password` or `password2`); the new value, once."""
        if password_name not in ADMIN_PASSWORDS:
            raise Invalid(f"password name must be one of {', '.join(ADMIN_PASSWORDS)}")
        record = await self._context.registry(name)
        if not record.admin_enabled:
            raise Conflict(
                f"the admin user of {record.name!r} is disabled; enable it first "
                "(registry update --admin-enabled true)"
            )
        return await self._admin_password(record, password_name)

    async def set_repository_anonymous_pull(
        self, registry: str, repository: str, enabled: bool
    ) -> None:
        """Open (or close) one repository to anonymous pull; NotFound if it does not exist."""
        record = await self._context.registry(registry)
        try:
            validate_name(repository)
        except NameInvalid as error:
            raise Invalid(str(error)) from None
        if not await self._stores.registries.set_repository_anonymous_pull(
            record.id, repository, enabled
        ):
            raise NotFound(f"repository {repository!r} does not exist in {record.name!r}")

    async def _ensure_system_maps(self, record: RegistryRecord) -> None:
        for map_name, (description, actions) in SYSTEM_SCOPE_MAPS.items():
            # None when it exists already: creation is idempotent and safe against races.
            await self._stores.scope_maps.create(
                record.id, map_name, actions, description, system=True
            )

    async def _first_passwords(self, record: RegistryRecord) -> tuple[SecretInfo, ...]:
        return tuple([await self._admin_password(record, name) for name in ADMIN_PASSWORDS])

    async def _admin_password(self, record: RegistryRecord, name: str) -> SecretInfo:
        return await self._context.issue_secret(
            "admin", str(record.id), name, registry_id=record.id
        )


def _check_sku(sku: str) -> None:
    if sku not in SKUS:
        raise Invalid(f"unknown SKU {sku[:40]!r}: use one of {', '.join(SKUS)}")


def _quota_settings(quotas: Mapping[str, int | None]) -> dict[str, int | None]:
    """Quota overrides as registry settings (`quota_<name>` columns); Invalid if out of range."""
    settings: dict[str, int | None] = {}
    for quota, value in quotas.items():
        if quota not in QUOTAS:
            raise Invalid(f"unknown quota {quota[:40]!r}: use one of {', '.join(QUOTAS)}")
        limit = _MAX_BYTES if quota == "storage_bytes" else _MAX_COUNT
        if value is not None and not 0 <= value <= limit:
            raise Invalid(f"the {QUOTAS[quota].label} quota must be between 0 and {limit}")
        settings[QUOTA_COLUMNS[quota]] = value
    return settings


def _rate_settings(rates: Mapping[str, int | None]) -> dict[str, int | None]:
    """Rate limit overrides as registry settings; Invalid if unknown or out of range."""
    for name, value in rates.items():
        if name not in RATE_COLUMNS:
            raise Invalid(f"unknown rate limit {name[:40]!r}: use one of {sorted(RATE_COLUMNS)}")
        if value is not None and not 0 <= value <= _MAX_COUNT:
            raise Invalid(f"{name} must be between 0 (unlimited) and {_MAX_COUNT}")
    return dict(rates)
