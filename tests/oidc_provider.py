"""A fake OpenID Connect provider on a loopback port: a real HTTP server with a discovery
document, a JWKS, an authorization page that approves at once (it redirects straight back with
a code, as a provider does for a user already signed in) and a token endpoint that checks what
a real one checks: the code (once), the client, the redirect URI and the PKCE verifier (S256).

It signs with `tests.api.identities.OidcIssuer` (the issuer `/oauth2/exchange`'s tests use);
`claims` overrides claims of the next ID tokens, and `signer` signs them with another issuer's
key instead, for the tests of what the portal must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

from tests.api.identities import OidcIssuer

__all__ = ["OidcProvider"]


@dataclass
class _Grant:
    """A code handed out by the authorization page, and what it was asked with."""

    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    nonce: str
    subject: str
    groups: list[str]


@dataclass
class OidcProvider:
    """The provider; use as a context manager (it serves while inside)."""

    client_id: str = "portside-portal"
    client_secret: str | None = None
    subject: str = "alice"
    groups: list[str] = field(default_factory=lambda: ["readers"])
    claims: dict[str, Any] = field(default_factory=dict)
    signer: OidcIssuer | None = None
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _grants: dict[str, _Grant] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _idp: OidcIssuer | None = None

    def __enter__(self) -> OidcProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider._get(self)

            def do_POST(self) -> None:
                provider._post(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._idp = OidcIssuer(self.issuer, self.client_id)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def issuer(self) -> str:
        """Its `iss`: its own base URL."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def idp(self) -> OidcIssuer:
        """The signing issuer (its key is the one the JWKS publishes)."""
        assert self._idp is not None
        return self._idp

    def jwks(self) -> dict[str, Any]:
        """Its JWKS document."""
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.idp.key.public_key()))
        return {"keys": [{**jwk, "kid": "idp-1", "use": "sig"}]}

    def authorize(self, redirect_uri: str, challenge: str, nonce: str = "n") -> str:
        """A code as the authorization page would give it (for an attacker's own sign-in)."""
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(
            self.client_id, redirect_uri, challenge, "S256", nonce, self.subject, self.groups
        )
        return code

    # The endpoints --------------------------------------------------------------------------

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        if parts.path == "/.well-known/openid-configuration":
            self._json(handler, 200, self._discovery())
        elif parts.path == "/jwks":
            self._json(handler, 200, self.jwks())
        elif parts.path == "/authorize":
            self._authorize(handler, {k: v[0] for k, v in parse_qs(parts.query).items()})
        else:
            self._json(handler, 404, {"error": "not_found"})

    def _discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "subject_types_supported": ["public"],
        }

    def _authorize(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect:
            self._json(handler, 400, {"error": "invalid_client"})
            return
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            self._json(handler, 400, {"error": "invalid_request"})
            return
        code = secrets.token_urlsafe(16)
        self._grants[code] = _Grant(
            self.client_id,
            redirect,
            query.get("code_challenge", ""),
            "S256",
            query.get("nonce", ""),
            self.subject,
            list(self.groups),
        )
        back = urlencode({"code": code, "state": query.get("state", "")})
        handler.send_response(302)
        handler.send_header("Location", f"{redirect}?{back}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        raw = handler.rfile.read(length).decode()
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        self.token_requests.append(form)
        if urlsplit(handler.path).path != "/token":
            self._json(handler, 404, {"error": "not_found"})
            return
        error = self._refusal(handler, form)
        if error is not None:
            self._json(handler, 400 if error != "invalid_client" else 401, {"error": error})
            return
        grant = self._grants.pop(form["code"])
        self._json(
            handler,
            200,
            {
                "access_token": "opaque",
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self._id_token(grant),
            },
        )

    def _refusal(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> str | None:
        """Why the token endpoint refuses (RFC 6749 error codes), or None."""
        if self.client_secret is not None:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
            if handler.headers.get("Authorization", "") != f"Basic {expected.decode()}":
                return "invalid_client"
        if form.get("grant_type") != "authorization_code":
            return "unsupported_grant_type"
        grant = self._grants.get(form.get("code", ""))
        if grant is None:
            return "invalid_grant"  # unknown, or used already
        if form.get("client_id") != grant.client_id:
            return "invalid_client"
        if form.get("redirect_uri") != grant.redirect_uri:
            return "invalid_grant"
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if (
            not verifier
            or base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge
        ):
            return "invalid_grant"  # PKCE: the verifier does not match the challenge
        return None

    def _id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        signer = self.signer or self.idp
        payload: dict[str, Any] = {
            "iss": signer.issuer,
            "aud": grant.client_id,
            "sub": grant.subject,
            "nonce": grant.nonce,
            "iat": now,
            "exp": now + 600,
            "groups": grant.groups,
        }
        payload.update(self.claims)
        return jwt.encode(payload, signer.key, algorithm="ES256", headers={"kid": "idp-1"})

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
