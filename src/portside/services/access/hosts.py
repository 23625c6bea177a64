"""Which registry a request addresses, from its Host: `NAME.<domain>`, a loopback login server
(`127.0.0.1:PORT`, while the server listens on loopback only), or the default registry."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from portside.metadata.changes import DatabaseChanges
from portside.metadata.records import RegistryRecord
from portside.metadata.registries import RegistryStore
from portside.services.errors import NameUnknown, ParameterInvalid

__all__ = [
    "LocalLoginServers",
    "RegistryDirectory",
    "hostname_of",
    "loopback_host",
    "port_of",
    "well_formed_host",
]

# What a Host header may hold: a DNS name or IPv4 address (ASCII letters, digits, dots and
# hyphens, as every client's reference grammar allows), or a bracketed IPv6 address, each
# optionally with a port. Anything else (quotes, spaces, slashes, underscores, non-ASCII letters
# or digits) addresses no registry, and never reaches a challenge header or a login server.
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?")
# Registries found, per name or login slot. Only registries that exist are kept (so a flood of
# made-up hosts cannot grow it); past this many (more registries than one process serves at
# once) it starts again.
_CACHED_REGISTRIES = 1024

_Key = TypeVar("_Key", str, int)


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


def port_of(host: str) -> int | None:
    """The port of a Host header value, or None if it names none (`[::1]:5001` → 5001)."""
    host = host.strip()
    tail = host.rpartition("]")[2] if host.startswith("[") else host
    if tail.count(":") != 1:
        return None
    port = tail.rpartition(":")[2]
    return int(port) if port.isdigit() else None


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def loopback_host(host: str) -> bool:
    """True if a Host header value names this machine (`localhost`, `127.0.0.1:5000`, `[::1]`).

    A browser sends the name of the page it runs (`attacker.example`, rebound to 127.0.0.1 by
    its DNS), and a proxy on this machine its public name, so neither is a loopback name.
    """
    return well_formed_host(host.strip()) and _is_loopback(hostname_of(host))


@dataclass(frozen=True, slots=True)
class LocalLoginServers:
    """Login servers on loopback ports, for a server that listens on loopback only.

    `*.localhost` does not resolve everywhere, and Docker speaks plain HTTP only to registries
    on 127.0.0.0/8 (TLS for any other name). So each registry but the default gets a login
    server of its own on a loopback port: the registry with login slot N answers at
    `address:ports[N-1]`, where `portside serve` forwards that port to the main one. The Host
    the client sends there (`127.0.0.1:5001`) names the registry.
    """

    address: str
    """The loopback address as a Host names it: `127.0.0.1`, or `[::1]`."""
    ports: range
    """The ports of slots 1, 2, ...; a slot beyond them has no loopback login server."""

    def port(self, slot: int | None) -> int | None:
        """The port of login slot `slot`; None if it has none."""
        if slot is None or not 1 <= slot <= len(self.ports):
            return None
        return self.ports[slot - 1]

    def login_server(self, slot: int | None) -> str | None:
        """The login server of login slot `slot` (`127.0.0.1:5001`); None if it has none."""
        port = self.port(slot)
        return None if port is None else f"{self.address}:{port}"

    def slot_for_host(self, host: str) -> int | None:
        """The login slot a Host header value addresses; None if it is no loopback login server."""
        port = port_of(host)
        if port is None or port not in self.ports or not _is_loopback(hostname_of(host)):
            return None
        return self.ports.index(port) + 1


class RegistryDirectory:
    """Maps hosts to registries.

    `contoso.<domain>` is registry `contoso`'s login server; so is its loopback login server
    (`127.0.0.1:5001`) when `local` is given; any other host (an address, the bare domain, a
    proxy's name) reaches the default registry, so the embedded default works with zero setup.
    A login server of a registry that does not exist reaches nothing: falling back to the
    default registry there would leak it under another registry's name.

    Every request resolves its Host, so the registries found are kept per process while
    `changes` tells that nothing was committed to the database since they were read (any node's
    commit moves its mark: metadata/changes.py). Without `changes`, or while it gives no mark
    (PostgreSQL before its listener listens, or beside a read replica), every resolution reads
    the registry.
    """

    def __init__(
        self,
        store: RegistryStore,
        *,
        domain: str,
        default: str,
        local: LocalLoginServers | None = None,
        changes: DatabaseChanges | None = None,
    ) -> None:
        self._store = store
        self._changes = changes
        self._found: dict[str | int, tuple[int, RegistryRecord]] = {}
        self._suffix = "." + domain.strip(".").lower()
        self._default = default
        self._local = local
        # Slot -> registry name, as `resolve` last read it from the database. `name_for_host`
        # is synchronous (it checks a token's audience), and every request resolves its own
        # Host first, so the entry of the registry at hand is always fresh; the database
        # decides. (A stale entry can only name a deleted registry, whose tokens carry an id
        # no registry has.)
        self._slots: dict[int, str] = {}

    @property
    def default(self) -> str:
        """The name of the default registry."""
        return self._default

    def name_for_host(self, host: str) -> str:
        """The name of the registry `host` addresses (which may not exist); "" for none."""
        if not well_formed_host(host.strip()):
            return ""
        slot = self._slot_for_host(host)
        if slot is not None:
            return self._slots.get(slot, "")
        hostname = hostname_of(host)
        if hostname.endswith(self._suffix):
            label = hostname[: -len(self._suffix)]
            if label and "." not in label:
                return label
            return ""
        return self._default

    async def resolve(self, host: str) -> RegistryRecord | None:
        """The registry `host` addresses; None if no such registry exists."""
        slot = self._slot_for_host(host)
        if slot is not None:
            return await self._resolve_slot(slot)
        name = self.name_for_host(host)
        if not name:
            return None
        record = await self._cached(name, self._store.get)
        if record is not None and record.login_slot is not None:
            # So that a token for its loopback login server is known as its own here too.
            self._slots[record.login_slot] = record.name
        return record

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
        slot = self._slot_for_host(service) if service != host else None
        if slot is not None:
            named = await self._resolve_slot(slot)
            same = named is not None and named.id == registry.id
        else:
            same = self.name_for_host(service) == registry.name
        if not same:
            raise ParameterInvalid(f"service {service!r} is not this registry")
        return registry, service

    def _slot_for_host(self, host: str) -> int | None:
        if self._local is None or not well_formed_host(host.strip()):
            return None
        return self._local.slot_for_host(host)

    async def _cached(
        self, key: _Key, read: Callable[[_Key], Awaitable[RegistryRecord | None]]
    ) -> RegistryRecord | None:
        """The registry named by `key` (a name, or a login slot), read by `read` unless the
        one read before is still current."""
        # The mark is taken before the read: a commit between the two moves it, and only costs
        # the next request another read.
        mark = self._changes.mark() if self._changes is not None else None
        if mark is not None:
            found = self._found.get(key)
            if found is not None and found[0] == mark:
                return found[1]
        record = await read(key)
        if mark is not None and record is not None:
            if len(self._found) >= _CACHED_REGISTRIES:
                self._found.clear()
            self._found[key] = (mark, record)
        return record

    async def _resolve_slot(self, slot: int) -> RegistryRecord | None:
        record = await self._cached(slot, self._store.by_login_slot)
        if record is None:
            self._slots.pop(slot, None)
        else:
            self._slots[slot] = record.name
        return record
