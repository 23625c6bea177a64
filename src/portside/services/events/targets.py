"""Where a webhook may send: http(s) URLs, and no loopback, link-local or private address
unless the deployment allows it (`allow_private_network_targets`).

Without that rule a registry user could make the server call services only it can reach
(a metadata endpoint, an admin port). Names are resolved and every address they resolve to is
checked, at creation and again before each delivery, since a name may resolve elsewhere later.
A delivery then connects to the very addresses it checked (`pinned_addresses`): resolving again at
connect time would let a name answer a public address to the check and a private one to the
connection (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from portside.services.management.errors import Invalid
from portside.services.networks import Resolver, forbidden_address, refused_address, resolve

__all__ = [
    "EVENT_HEADER",
    "Resolver",
    "TargetRefused",
    "Unresolved",
    "check_address",
    "check_uri",
    "pinned_addresses",
    "resolve",
    "split_target",
]

MAX_URI = 2048

EVENT_HEADER = "X-Portside-Event-Id"
"""The header that carries the event's id (as the payload's `id` does); a webhook's own
headers may not set it."""


class TargetRefused(Invalid):
    """The target resolves to an address the deployment does not let webhooks reach."""


class Unresolved(Exception):
    """The target's name does not resolve now (a delivery retries it later)."""


def split_target(uri: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; Invalid for anything else."""
    if len(uri) > MAX_URI:
        raise Invalid(f"the webhook URI is longer than {MAX_URI} characters")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise Invalid("the webhook URI is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("the webhook URI must be an http or https URL with a host")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check_address(host: str, port: int, *, allow_private: bool) -> None:
    """TargetRefused if `host` is, or resolves to, a forbidden address.

    A name that does not resolve passes: at creation the receiver may not exist yet, and at
    delivery the connection then fails as any unreachable receiver's does (and is retried).
    """
    if allow_private:
        return
    if await refused_address(host, port) is not None:
        raise _refused(host)


def _refused(host: str) -> TargetRefused:
    return TargetRefused(
        f"the webhook host {host[:100]!r} is a loopback, link-local or private address"
        " (allow_private_network_targets is off)"
    )


async def pinned_addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = resolve
) -> list[str]:
    """The addresses a delivery may connect to, in the resolver's order: `host` resolved
    once and checked.

    TargetRefused if any address it resolves to is forbidden; Unresolved if it resolves to
    none. An address literal is its own answer.
    """
    try:
        ipaddress.ip_address(host.split("%")[0])
        addresses = [host]
    except ValueError:
        try:
            addresses = list(dict.fromkeys(await resolver(host, port)))
        except OSError as error:
            raise Unresolved(f"the webhook host {host[:100]!r} does not resolve: {error}") from None
    if not addresses:
        raise Unresolved(f"the webhook host {host[:100]!r} does not resolve")
    if not allow_private and any(forbidden_address(address) for address in addresses):
        raise _refused(host)
    return addresses


async def check_uri(uri: str, *, allow_private: bool) -> str:
    """The URI if webhooks may target it; Invalid or TargetRefused otherwise."""
    host, port = split_target(uri)
    await check_address(host, port, allow_private=allow_private)
    return uri
