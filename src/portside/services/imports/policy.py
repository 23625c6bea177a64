"""`UpstreamPolicy`: which upstream registries the deployment lets Portside call, and how.

An upstream that is, or resolves to, a loopback, link-local or private address is refused
unless `allow_private_network_targets` is on (the same rule as webhook targets,
services/networks.py): otherwise anyone allowed to import could make the server fetch from
internal services. Loopback upstreams are spoken to over plain HTTP, as Docker does; others
over HTTPS unless listed in `insecure_upstreams` (`host` or `host:port`). Every hop is checked:
the registry itself, its token realm, and each redirect of a blob.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from portside.services.imports.errors import UpstreamRefused
from portside.services.networks import is_loopback_host, refused_address

__all__ = ["UpstreamPolicy", "split_upstream"]


@dataclass(frozen=True, slots=True)
class UpstreamPolicy:
    """Which upstreams the deployment lets Portside call, and over which scheme."""

    allow_private: bool = False
    insecure: frozenset[str] = frozenset()

    def scheme(self, host: str, port: int | None) -> str:
        """`http` for loopback hosts and those listed as insecure, `https` otherwise."""
        if is_loopback_host(host):
            return "http"
        named = {host, f"{host}:{port}"} if port else {host}
        return "http" if named & self.insecure else "https"

    def check_scheme(self, upstream: str, url: str) -> None:
        """UpstreamRefused for plain HTTP to a host that must be spoken to over HTTPS."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme == "https":
            return
        if parts.scheme != "http" or self.scheme(host, parts.port) != "http":
            raise UpstreamRefused(
                upstream,
                f"{host[:100]!r} must be reached over HTTPS (or listed in insecure_upstreams)",
            )

    async def check_address(self, upstream: str, host: str, port: int) -> None:
        """UpstreamRefused if `host` is or resolves to a private address the policy forbids."""
        if self.allow_private:
            return
        if await refused_address(host, port) is not None:
            raise UpstreamRefused(
                upstream,
                f"{host[:100]!r} is a loopback, link-local or private address"
                " (allow_private_network_targets is off)",
            )


def split_upstream(login_server: str) -> tuple[str, int | None]:
    """The host and port of a login server `host[:port]`; UpstreamRefused for anything else."""
    text = login_server.strip()
    try:
        parts = urlsplit(f"//{text}")
        port = parts.port
    except ValueError:
        raise UpstreamRefused(text[:100], "not a host[:port]") from None
    if (
        not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or len(text) > 253
    ):
        raise UpstreamRefused(text[:100], "not a host[:port]")
    return parts.hostname, port
