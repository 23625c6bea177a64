"""Which registry a request addresses, from its Host: `NAME.<domain>` or the default registry."""

from __future__ import annotations

import re

from portside.metadata.records import RegistryRecord
from portside.metadata.registries import RegistryStore

__all__ = ["RegistryDirectory", "hostname_of"]

# What a Host header may hold: a name or address, optionally a port. Anything else (quotes,
# spaces, slashes) addresses no registry, and never reaches a challenge header.
_HOST = re.compile(r"[a-z0-9._\-]+(:\d{1,5})?|\[[0-9a-f:.]+\](:\d{1,5})?", re.IGNORECASE)


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
        if not _HOST.fullmatch(host.strip()):
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
