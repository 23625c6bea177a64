"""Where a webhook may send: http(s) URLs, and no loopback, link-local or private address
unless the deployment allows it (`allow_private_network_targets`).

Without that rule a registry user could make the server call services only it can reach
(a metadata endpoint, an admin port). Names are resolved and every address they resolve to is
checked, at creation and again before each delivery, since a name may resolve elsewhere later.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from portside.services.management.errors import Invalid
from portside.services.networks import refused_address

__all__ = ["TargetRefused", "check_address", "check_uri", "split_target"]

MAX_URI = 2048


class TargetRefused(Invalid):
    """The target resolves to an address the deployment does not let webhooks reach."""


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
        raise TargetRefused(
            f"the webhook host {host[:100]!r} is a loopback, link-local or private address"
            " (allow_private_network_targets is off)"
        )


async def check_uri(uri: str, *, allow_private: bool) -> str:
    """The URI if webhooks may target it; Invalid or TargetRefused otherwise."""
    host, port = split_target(uri)
    await check_address(host, port, allow_private=allow_private)
    return uri
