"""Which registry a request addresses, from its Host: `NAME.<domain>` or the default registry."""

from __future__ import annotations

import re

from portside.metadata.records import RegistryRecord
from portside.metadata.registries import RegistryStore
from portside.services.errors import NameUnknown, ParameterInvalid

__all__ = ["RegistryDirectory", "hostname_of", "well_formed_host"]

# What a Host header may hold: a DNS name or IPv4 address (ASCII letters, digits, dots and
# hyphens, as every client's reference grammar allows), or a bracketed IPv6 address, each
# optionally with a port. Anything else (quotes, spaces, slashes, underscores, non-ASCII letters
# or digits) addresses no registry, and never reaches a challenge header or a login server.
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?")


def well_formed_host(host: str) -> bool:
    """True if `host` is a Host header value Portside answers: a name or address, maybe a port."""
    return _HOST.fullmatch(host) is not None


def hostname_of(host: str) -> str:
    """The host name of a Host header value, without port, lowercased (`[::1]:5000` → `::1`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


class RegistryDirectory:
    """Maps hosts to registries.

    `contoso.<domain>` is registry `contoso`'s login server; any other host (an address, the
    bare domain, a proxy's name) reaches the default registry, so the embedded default works
    with zero setup. A login-server name of a registry that does not exist reaches nothing:
    falling back to the default registry there would leak it under another registry's name.
    """

    def __init__(self, store: RegistryStore, *, domain: str, default: str) -> None:
        self._store = store
        self._suffix = "." + domain.strip(".").lower()
        self._default = default

    @property
    def default(self) -> str:
        """The name of the default registry."""
        return self._default

    def name_for_host(self, host: str) -> str:
        """The name of the registry `host` addresses (which may not exist); "" for none."""
        if not well_formed_host(host.strip()):
            return ""
        hostname = hostname_of(host)
        if hostname.endswith(self._suffix):
            label = hostname[: -len(self._suffix)]
            if label and "." not in label:
                return label
            return ""
        return self._default

    async def resolve(self, host: str) -> RegistryRecord | None:
        """The registry `host` addresses; None if no such registry exists."""
        name = self.name_for_host(host)
        if not name:
            return None
        return await self._store.get(name)

    async def resolve_or_raise(self, host: str) -> RegistryRecord:
        """The registry `host` addresses; NameUnknown if no such registry exists."""
        registry = await self.resolve(host)
        if registry is None:
            raise NameUnknown("no registry answers at this host")
        return registry

    async def resolve_service(self, host: str, service: str | None) -> tuple[RegistryRecord, str]:
        """The registry `host` addresses, and the service a token for it names (`host` unless
        the client asked for one); ParameterInvalid if that service is another registry."""
        registry = await self.resolve_or_raise(host)
        service = service or host
        if self.name_for_host(service) != registry.name:
            raise ParameterInvalid(f"service {service!r} is not this registry")
        return registry, service
