"""Usage against limits: what a registry uses and may use, for the management API, the CLI
and the checks of the management service's create paths.

A limit is the registry's override (`registries.quota_*`) or else its SKU's default
(`metadata.usage.SKU_LIMITS`); None is unlimited. Storage and repositories are enforced by the
stores in the transactions that add them (metadata/usage.py, metadata/repositories.py);
tokens and scope maps by `UsageService.require_room` (services/management/tokens.py,
scope_maps.py); webhooks by their store, under the registry's row lock (metadata/webhooks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from portside.metadata.records import RegistryRecord
from portside.metadata.usage import effective_limit
from portside.metadata.usage_reads import RegistryUsage, UsageStore

__all__ = ["QUOTAS", "QuotaUsage", "UsageReport", "UsageService", "quota_exceeded_message"]


@dataclass(frozen=True, slots=True)
class _Quota:
    """How a quota is named to people and in ARM's list of usages."""

    label: str
    one: str
    usage_name: str
    unit: str


QUOTAS: Mapping[str, _Quota] = MappingProxyType(
    {
        "storage_bytes": _Quota("storage", "byte", "Size", "Bytes"),
        "repositories": _Quota("repositories", "repository", "Repositories", "Count"),
        "tokens": _Quota("tokens", "token", "Tokens", "Count"),
        "scope_maps": _Quota("scope maps", "scope map", "ScopeMaps", "Count"),
        "webhooks": _Quota("webhooks", "webhook", "Webhooks", "Count"),
    }
)
"""Every quota, by its name in the schema (`quota_<name>`): label, one item, ARM usage name
and unit."""


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """One quota of a registry: how much is used, its limit (None: unlimited)."""

    quota: str
    used: int
    limit: int | None

    @property
    def usage_name(self) -> str:
        """Its name in ARM's list of usages (`Size`, `Tokens`, `ScopeMaps`, ...)."""
        return QUOTAS[self.quota].usage_name

    @property
    def unit(self) -> str:
        """`Bytes` for storage, `Count` for the rest."""
        return QUOTAS[self.quota].unit


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Every quota of a registry, in the order of `QUOTAS`."""

    registry: str
    quotas: tuple[QuotaUsage, ...]

    def __getitem__(self, quota: str) -> QuotaUsage:
        """The usage of one quota (`storage_bytes`, `repositories`, ...)."""
        for item in self.quotas:
            if item.quota == quota:
                return item
        raise KeyError(quota)


def quota_exceeded_message(quota: str, limit: int) -> str:
    """The message refusing one more of a counted quota: it names the quota and its limit."""
    named = QUOTAS[quota]
    return f"{named.label} quota of {limit} reached: the registry cannot hold another {named.one}"


class UsageService:
    """Usage of registries compared with their limits."""

    def __init__(self, store: UsageStore) -> None:
        """Read usage through `store`."""
        self._store = store

    @staticmethod
    def limit(record: RegistryRecord, quota: str) -> int | None:
        """The registry's limit for `quota`: its override, else its SKU's default."""
        return effective_limit(record.sku, record.quotas.override(quota), quota)

    async def report(self, record: RegistryRecord) -> UsageReport:
        """Every quota of the registry with what it uses (one snapshot)."""
        usage = await self._store.registry_usage(record.id)
        if usage is None:
            usage = RegistryUsage(storage_bytes=0, repositories=0, tokens=0, scope_maps=0)
        return UsageReport(
            record.name,
            tuple(
                QuotaUsage(quota, usage.used(quota), self.limit(record, quota)) for quota in QUOTAS
            ),
        )

    async def over(self, record: RegistryRecord, quota: str, adding: int = 0) -> int | None:
        """The limit of a counted quota if the registry's count plus `adding` exceeds it
        (with `adding=1`: no room for one more), else None."""
        limit = self.limit(record, quota)
        if limit is None:
            return None
        return limit if await self._store.count(record.id, quota) + adding > limit else None
