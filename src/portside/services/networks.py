"""Which network addresses the server may be made to call on a user's behalf.

Webhook targets (services/events/targets.py) and import and cache upstreams
(services/imports/upstream.py) both let a registry user name a host the server then connects
to. Without a check, that user could make the server reach services only it can reach (a cloud
metadata endpoint, an admin port). `refused_address` resolves a name and judges every address
it resolves to; callers refuse it unless the deployment sets `allow_private_network_targets`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["Resolver", "forbidden_address", "is_loopback_host", "refused_address", "resolve"]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Host and port → the addresses to connect to (the system resolver, or a test's)."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def forbidden_address(address: str) -> bool:
    """True for loopback, link-local, private, shared, reserved and other non-global addresses."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64) are judged by it.
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # `is_private` misses the shared range 100.64.0.0/10, where some clouds answer metadata.
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback address literals (no name is resolved)."""
    bare = host.strip("[]").lower()
    if bare == "localhost" or bare.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(bare.split("%")[0]).is_loopback
    except ValueError:
        return False


async def refused_address(host: str, port: int) -> str | None:
    """The first forbidden address `host` is or resolves to; None if all are allowed.

    A name that does not resolve passes: connecting to it then fails as any unreachable
    host does.
    """
    try:
        addresses = await resolve(host.strip("[]"), port)
    except OSError:
        return None
    return next((address for address in addresses if forbidden_address(address)), None)


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, as the system resolver answers (OSError if none)."""
    found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in found]
