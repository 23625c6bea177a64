"""`Authenticator`: how an UpstreamClient proves who it is to an upstream registry.

Docker/OCI token auth: the upstream answers 401 with a Bearer challenge; the realm it names
(checked by the address policy like any hop) is asked for a token for the repository's pull
scope, with Basic credentials if there are some, anonymously otherwise; the token is kept per
scope. An upstream that answers with a Basic challenge gets the credentials on every request.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from portside.services.imports.challenges import parse_challenge
from portside.services.imports.connections import RefusedConnection
from portside.services.imports.errors import (
    UpstreamInvalid,
    UpstreamRefused,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)
from portside.services.imports.policy import UpstreamPolicy

__all__ = ["Authenticator", "UpstreamCredentials", "read_bounded"]

_MAX_TOKEN_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class UpstreamCredentials:
    """A user name and password (or token) for an upstream registry."""

    username: str
    password: str = field(repr=False)


def _basic(credentials: UpstreamCredentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


async def read_bounded(upstream: str, response: httpx.Response, limit: int, what: str) -> bytes:
    """The body of `response`, UpstreamInvalid past `limit` bytes (never read beyond it)."""
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise UpstreamInvalid(upstream, f"{what} larger than {limit} bytes")
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > limit:
                raise UpstreamInvalid(upstream, f"{what} larger than {limit} bytes")
    except httpx.HTTPError as error:
        raise UpstreamUnreachable(upstream, f"{what} broke off: {error!r}") from None
    return bytes(data)


class Authenticator:
    """The credentials of one upstream, and the tokens they earned."""

    def __init__(
        self,
        name: str,
        policy: UpstreamPolicy,
        http: httpx.AsyncClient,
        credentials: UpstreamCredentials | None,
    ) -> None:
        self._name = name
        self._policy = policy
        self._http = http
        self._credentials = credentials
        self._tokens: dict[str, str] = {}
        self._basic = False

    def header(self, scope: str) -> dict[str, str]:
        """The `Authorization` header for a request in `scope` (none before a challenge)."""
        token = self._tokens.get(scope)
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if self._basic and self._credentials is not None:
            return {"Authorization": _basic(self._credentials)}
        return {}

    async def answer(self, header: str | None, scope: str) -> None:
        """Meet a 401's `WWW-Authenticate` challenge; UpstreamUnauthorized if it cannot be."""
        challenge = parse_challenge(header)
        if challenge is None or challenge.scheme not in ("bearer", "basic"):
            raise UpstreamUnauthorized(self._name, "requires authentication it does not name")
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise UpstreamUnauthorized(self._name, "requires credentials (Basic)")
            self._basic = True
            return
        realm = challenge.params.get("realm")
        if not realm:
            raise UpstreamUnauthorized(self._name, "a Bearer challenge without a realm")
        self._tokens[scope] = await self._token(realm, challenge.params.get("service"), scope)

    async def _token(self, realm: str, service: str | None, scope: str) -> str:
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamInvalid(self._name, f"token realm {realm[:200]!r} is not a URL")
        self._policy.check_scheme(self._name, realm)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await self._policy.check_address(self._name, parts.hostname, port)
        params = {"scope": scope, **({"service": service} if service else {})}
        try:
            request = self._http.build_request("GET", realm, params=params)
            if self._credentials is not None:
                request.headers["Authorization"] = _basic(self._credentials)
            response = await self._http.send(request, stream=True)
        except RefusedConnection as error:
            raise UpstreamRefused(self._name, f"token realm: {error}") from None
        except httpx.HTTPError as error:
            raise UpstreamUnreachable(self._name, f"token realm: {error!r}") from None
        try:
            if response.status_code in (401, 403):
                raise UpstreamUnauthorized(self._name, "the token realm refused the credentials")
            if response.status_code != 200:
                raise UpstreamUnreachable(
                    self._name, f"the token realm answered {response.status_code}"
                )
            body = await read_bounded(self._name, response, _MAX_TOKEN_BYTES, "token")
        finally:
            await response.aclose()
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise UpstreamInvalid(self._name, "the token realm answered no token")
        return token
