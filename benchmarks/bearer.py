"""The authenticated variant: Portside's default registry reached by a name that is not
loopback (so it is not the open development registry), with Bearer tokens fetched as docker
fetches them. The reference registry has no token server here and is measured open: the
comparison is Portside with access control against the reference without any.
"""

from __future__ import annotations

import secrets

import httpx

from benchmarks.servers import Server

__all__ = ["ADMIN_PASSWORD", "HOST", "BearerAccess"]

# The administrator password `start_portside` gives the server, for the management API.
ADMIN_PASSWORD = secrets.token_hex(16)
# Any name that is neither loopback nor `NAME.localhost` reaches the default registry, closed.
HOST = "registry.bench.example"
_REPOSITORIES = ("bench/image", "bench/tags")


class BearerAccess:
    """A pull token (scope map + token) on Portside, and Bearer headers made from it."""

    def __init__(self, server: Server) -> None:
        """Create the scope map and the token through the management API of `server`."""
        self._url = server.url
        actions = [f"repositories/{name}/content/read" for name in _REPOSITORIES]
        with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD)) as admin:
            mapped = admin.post(
                "/api/v1/registries/default/scope-maps",
                json={"name": "bench-pull", "actions": actions},
            )
            mapped.raise_for_status()
            made = admin.post(
                "/api/v1/registries/default/tokens",
                json={"name": "bench-puller", "scopeMap": "bench-pull"},
            )
            made.raise_for_status()
        self._password = str(made.json()["credentials"]["passwords"][0]["value"])

    def headers(self) -> dict[str, str]:
        """Host and a fresh Bearer token for pulling the benchmark's repositories (fetched
        before each measurement: access tokens are short-lived)."""
        scope = " ".join(f"repository:{name}:pull" for name in _REPOSITORIES)
        answer = httpx.get(
            f"{self._url}/oauth2/token",
            params={"service": HOST, "scope": scope},
            headers={"Host": HOST},
            auth=("bench-puller", self._password),
        )
        answer.raise_for_status()
        return {"Host": HOST, "Authorization": f"Bearer {answer.json()['token']}"}
