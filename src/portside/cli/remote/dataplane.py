"""Talking to a registry's own API (`/acr/v1`, `/v2`) as ACR's tools do: a refresh token from
the management API's login endpoint, exchanged at the registry's `/oauth2/token` for an access
token per scope, sent as a Bearer token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from portside.cli.remote.client import CliError, ManagementClient

__all__ = ["CATALOG", "ImageRef", "RegistrySession", "parse_image", "repository_scope"]

CATALOG = "registry:catalog:*"
"""The scope that lists repositories."""

_MAX_PAGES = 1000
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """`repo`, `repo:tag` or `repo@digest`."""

    repository: str
    tag: str | None = None
    digest: str | None = None


def parse_image(text: str) -> ImageRef:
    """Split an image reference; CliError if it is empty or malformed."""
    repository, at, digest = text.partition("@")
    if at:
        if not _DIGEST.fullmatch(digest):
            raise CliError(f"invalid digest in {text!r}")
        return ImageRef(repository, digest=digest) if repository else _bad(text)
    slash = repository.rfind("/")
    colon = repository.rfind(":")
    if colon > slash:
        repository, tag = repository[:colon], repository[colon + 1 :]
        return ImageRef(repository, tag=tag) if repository and tag else _bad(text)
    return ImageRef(repository) if repository else _bad(text)


def _bad(text: str) -> ImageRef:
    raise CliError(f"invalid image reference {text!r}: use REPO:TAG or REPO@DIGEST")


def repository_scope(repository: str, action: str) -> str:
    """`repository:<name>:<action>`."""
    return f"repository:{repository}:{action}"


class RegistrySession:
    """Bearer-token access to one registry, scope by scope (tokens cached per scope)."""

    def __init__(self, client: ManagementClient, registry: str) -> None:
        """Sign in to `registry` through the management API's login endpoint."""
        result = client.call("POST", f"/registries/{registry}/login")
        self.login_server = str(result["loginServer"])
        self._refresh = str(result["refreshToken"])
        self._client = client
        self._tokens: dict[str, str] = {}

    def _host(self) -> dict[str, str]:
        # Login servers are NAME.<domain>:PORT, which this machine may not resolve: connect to
        # --server's address and name the registry in the Host header (the server routes
        # requests to registries by Host). Over TLS the certificate must then cover --server.
        return {"Host": self.login_server}

    def access_token(self, scope: str) -> str:
        """An access token for `scope` (`repository:<name>:pull`, `registry:catalog:*`)."""
        if scope not in self._tokens:
            response = self._client.send(
                "POST",
                "/oauth2/token",
                data={
                    "grant_type": "refresh_token",
                    "service": self.login_server,
                    "scope": scope,
                    "refresh_token": self._refresh,
                },
                headers=self._host(),
            )
            token = _json(response).get("access_token")
            if not isinstance(token, str):
                raise CliError("the registry's token endpoint answered without an access token")
            self._tokens[scope] = token
        return self._tokens[scope]

    def request(
        self, method: str, path: str, scope: str, *, json: Any = None, params: Any = None
    ) -> httpx.Response:
        """A request to the registry with an access token for `scope`."""
        headers = {**self._host(), "Authorization": f"Bearer {self.access_token(scope)}"}
        if method in ("GET", "HEAD"):
            headers["Accept"] = "application/json"
        return self._client.send(method, path, json=json, params=params, headers=headers)

    def json(self, method: str, path: str, scope: str, **kwargs: Any) -> dict[str, Any]:
        """A request whose answer is a JSON object."""
        return _json(self.request(method, path, scope, **kwargs))

    def pages(
        self,
        path: str,
        scope: str,
        key: str,
        limit: int | None,
        query: dict[str, str] | None = None,
    ) -> list[Any]:
        """The items under `key` of every page (following `Link: <...>; rel="next"`, which
        carries `query` on); `query` adds parameters to the first request (`orderby`)."""
        items: list[Any] = []
        url: str | None = path
        params: dict[str, str] | None = {"n": str(min(limit or 100, 1000)), **(query or {})}
        for _ in range(_MAX_PAGES):
            if url is None or (limit is not None and len(items) >= limit):
                break
            response = self.request("GET", url, scope, params=params)
            found = _json(response).get(key) or []
            items.extend(found if isinstance(found, list) else [])
            url = response.links.get("next", {}).get("url")
            params = None
        return items if limit is None else items[:limit]

    def digest_of(self, image: ImageRef) -> str:
        """The digest an image reference names (a tag is looked up)."""
        if image.digest:
            return image.digest
        if not image.tag:
            raise CliError("give an image as REPO:TAG or REPO@DIGEST")
        path = f"/acr/v1/{image.repository}/_tags/{image.tag}"
        body = self.json("GET", path, repository_scope(image.repository, "metadata_read"))
        digest = body.get("tag", {}).get("digest")
        if not isinstance(digest, str):
            raise CliError(f"tag {image.tag!r} of {image.repository!r} has no digest")
        return digest


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise CliError(f"the registry answered HTTP {response.status_code} without JSON") from None
    if not isinstance(body, dict):
        raise CliError("the registry answered with unexpected JSON")
    return body
