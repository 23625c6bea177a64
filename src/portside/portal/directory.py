"""Directory sign-in to the portal: OpenID Connect's authorization-code flow with PKCE against a
trusted issuer that has a portal client (`portal_client_id`, docs/portal.md).

1. `begin`: reads the issuer's discovery document, makes a random `state`, `nonce` and PKCE
   code verifier, keeps them server-side under the SHA-256 of a fresh pre-session cookie
   (10 minutes, single use), and answers the issuer's authorization URL (S256 challenge).
2. `complete`: takes (and so deletes) the pending sign-in of the browser's pre-session cookie,
   checks `state`, exchanges the code at the token endpoint with the code verifier, the exact
   redirect URI and the client id (and the client secret, opened from its seal), and verifies
   the ID token with the very verifier `/oauth2/exchange` uses (keys of the trusted issuer,
   `iss` that issuer, `aud` the client id, expiry, then the nonce). The subject and groups get
   what the role assignments naming them give, as for `/oauth2/exchange`.

The OAuth client parts are httpx (already the project's HTTP client) and PyJWT (already its
JWT library, behind `FederatedVerifier`); the rest is a few lines of RFC 7636 and OIDC Core.
Authlib would bring a second JOSE implementation beside PyJWT and a second verifier beside the
one `/oauth2/exchange` trusts, which is exactly what must not differ between the two.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from urllib.parse import urlencode, urlsplit

import httpx

from portside.auth.errors import Unauthorized
from portside.auth.secrets import constant_time_equals
from portside.auth.tokens import InvalidToken
from portside.metadata.clock import utcnow
from portside.metadata.portal_directory import PendingSignIn
from portside.metadata.portal_sessions import PortalSessionRecord
from portside.metadata.trusted_issuers import TrustedIssuerRecord
from portside.runtime import Runtime
from portside.services.management.issuers import portal_secret_context

__all__ = ["DirectoryChoice", "DirectorySignIn", "SignInRefused", "code_challenge"]

PENDING_SECONDS = 600
"""How long a started sign-in may take at the issuer."""

_MAX_DOCUMENT = 256 * 1024
_TIMEOUT = 10.0


class SignInRefused(Unauthorized):
    """A directory sign-in that did not prove who the browser is (the message says why)."""


@dataclass(frozen=True, slots=True)
class DirectoryChoice:
    """An issuer the sign-in page offers: its name (in the URL) and its `iss` (shown)."""

    name: str
    issuer: str


@dataclass(frozen=True, slots=True)
class _Endpoints:
    """What the discovery document says, of what the flow needs."""

    authorization: str
    token: str


def code_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636, 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pending_key(cookie: str) -> str:
    """The stored id of the pending sign-in a pre-session cookie names (its SHA-256)."""
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


def _endpoint(value: object, what: str) -> str:
    """A usable endpoint URL: https, or http to a loopback address (a local issuer)."""
    if not isinstance(value, str) or len(value) > 2048:
        raise SignInRefused(f"the issuer's discovery document has no usable {what}")
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return value
    raise SignInRefused(f"the issuer's {what} must be an https URL")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class DirectorySignIn:
    """Starts and finishes directory sign-ins, over the runtime's trusted issuers."""

    def __init__(self, runtime: Runtime, http: httpx.AsyncClient | None = None) -> None:
        """Over `runtime`; `http` (the caller's, if given) talks to the issuers."""
        self._runtime = runtime
        self._http = http

    async def choices(self) -> list[DirectoryChoice]:
        """The trusted issuers with a portal client, by name."""
        records = await self._runtime.stores.trusted_issuers.list()
        return [DirectoryChoice(r.name, r.issuer) for r in records if r.portal_client_id]

    async def begin(self, name: str, redirect_uri: str, next_page: str) -> tuple[str, str]:
        """Start signing in with issuer `name`: (pre-session cookie, authorization URL)."""
        record = await self._record(name)
        assert record.portal_client_id is not None
        endpoints = await self._discover(record.issuer)
        cookie = secrets.token_urlsafe(32)
        pending = PendingSignIn(
            id=pending_key(cookie),
            issuer=record.issuer,
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            next=next_page[:2048],
            expires_at=utcnow() + timedelta(seconds=PENDING_SECONDS),
        )
        await self._runtime.portal_directory.start(pending)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": record.portal_client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid profile",
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": code_challenge(pending.verifier),
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if urlsplit(endpoints.authorization).query else "?"
        return cookie, f"{endpoints.authorization}{separator}{query}"

    async def complete(
        self, cookie: str | None, state: str, code: str, redirect_uri: str
    ) -> tuple[PortalSessionRecord, str, str]:
        """Finish the sign-in the pre-session `cookie` started: (session, its cookie value,
        the page to go to). SignInRefused, saying why, for anything that does not hold."""
        if not cookie or len(cookie) > 128:
            raise SignInRefused("this browser did not start a sign-in (or it expired): try again")
        pending = await self._runtime.portal_directory.take(pending_key(cookie))
        if pending is None:
            raise SignInRefused("this sign-in is unknown, used or expired: try again")
        if not state or not constant_time_equals(state, pending.state):
            raise SignInRefused("the sign-in's state does not match: try again")
        if not code or len(code) > 4096:
            raise SignInRefused("the issuer sent no authorization code")
        record = await self._by_issuer(pending.issuer)
        assert record.portal_client_id is not None
        endpoints = await self._discover(record.issuer)
        id_token = await self._redeem(record, endpoints, code, pending.verifier, redirect_uri)
        verifier = await self._runtime.issuers.verifier()
        try:
            federated = await verifier.verify(
                id_token,
                issuer=record.issuer,
                audience=record.portal_client_id,
                nonce=pending.nonce,
            )
        except InvalidToken as error:
            raise SignInRefused(f"the issuer's ID token is refused: {error.message}") from None
        if len(federated.subject) > 128:
            raise SignInRefused("the ID token's subject is longer than 128 characters")
        directory = self._runtime.portal_directory
        if not await directory.has_roles(federated.issuer, federated.subject, federated.groups):
            raise SignInRefused("this identity holds no role in any registry")
        session, value = self._session(federated.subject, federated.expires_at)
        await self._runtime.portal_sessions.delete_expired()
        await directory.open(session, federated.issuer, federated.groups)
        return session, value, pending.next

    async def abandon(self, cookie: str | None) -> None:
        """Forget the sign-in the pre-session `cookie` started (the issuer refused it)."""
        if cookie and len(cookie) <= 128:
            await self._runtime.portal_directory.take(pending_key(cookie))

    def _session(self, subject: str, token_end: datetime) -> tuple[PortalSessionRecord, str]:
        """A new directory session of `subject` and its cookie value; it ends with the ID
        token, or as /oauth2/exchange's and the portal's sessions do, whichever is first."""
        settings = self._runtime.settings
        now = utcnow()
        ends = min(
            token_end.astimezone(UTC),
            now + timedelta(seconds=settings.federated_session_max_seconds),
            now + timedelta(seconds=settings.portal_session_seconds),
        )
        value = secrets.token_urlsafe(32)
        record = PortalSessionRecord(
            id=hashlib.sha256(value.encode("utf-8")).hexdigest(),
            kind="federated",
            subject=subject,
            registry_id=None,
            # No secret was proved here: the issuer (kept beside the session) is what must
            # stay trusted, checked on every request.
            secret="",
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=ends,
        )
        return record, value

    async def _record(self, name: str) -> TrustedIssuerRecord:
        record = await self._runtime.stores.trusted_issuers.get(name) if len(name) <= 64 else None
        if record is None or not record.portal_client_id:
            raise SignInRefused("no issuer of that name is offered for sign-in")
        return record

    async def _by_issuer(self, issuer: str) -> TrustedIssuerRecord:
        """The issuer a pending sign-in went to, if it is still offered for sign-in."""
        for record in await self._runtime.stores.trusted_issuers.list():
            if record.issuer == issuer and record.portal_client_id:
                return record
        raise SignInRefused("the issuer is no longer offered for sign-in")

    async def _discover(self, issuer: str) -> _Endpoints:
        """The issuer's endpoints, from its discovery document (whose `issuer` must be it)."""
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        _endpoint(url, "discovery document")
        document = await self._get_json("GET", url)
        if document.get("issuer") != issuer:
            raise SignInRefused("the issuer's discovery document names another issuer")
        methods = document.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise SignInRefused("the issuer does not support PKCE with S256")
        return _Endpoints(
            authorization=_endpoint(document.get("authorization_endpoint"), "authorization URL"),
            token=_endpoint(document.get("token_endpoint"), "token URL"),
        )

    async def _redeem(
        self,
        record: TrustedIssuerRecord,
        endpoints: _Endpoints,
        code: str,
        verifier: str,
        redirect_uri: str,
    ) -> str:
        """The ID token the token endpoint gives for `code` and the PKCE `verifier`."""
        assert record.portal_client_id is not None
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": record.portal_client_id,
            "code_verifier": verifier,
        }
        auth: tuple[str, str] | None = None
        if record.portal_secret_sealed is not None and record.portal_secret_key is not None:
            secret = await self._runtime.secret_box.open(
                record.portal_secret_key,
                record.portal_secret_sealed,
                portal_secret_context(record.name, record.issuer),
            )
            # client_secret_basic: OIDC's default client authentication.
            auth = (record.portal_client_id, secret)
        answer = await self._get_json("POST", endpoints.token, form=form, auth=auth)
        token = answer.get("id_token")
        if not isinstance(token, str) or not token:
            raise SignInRefused("the issuer's token endpoint gave no ID token")
        return token

    async def _get_json(
        self,
        method: str,
        url: str,
        *,
        form: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> dict[str, object]:
        """A JSON object from the issuer, read up to `_MAX_DOCUMENT` bytes."""
        http = self._http or httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False)
        body = bytearray()
        try:
            async with http.stream(method, url, data=form, auth=auth) as response:
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_DOCUMENT:
                        raise SignInRefused("the issuer's answer is too large")
                status = response.status_code
        except httpx.HTTPError:
            raise SignInRefused("the issuer cannot be reached") from None
        finally:
            if self._http is None:
                await http.aclose()
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if status != 200:
            detail = document.get("error") if isinstance(document, dict) else None
            reason = f" ({str(detail)[:80]})" if detail else ""
            raise SignInRefused(f"the issuer refused the request: HTTP {status}{reason}")
        if not isinstance(document, dict):
            raise SignInRefused("the issuer's answer is not a JSON object")
        return document
