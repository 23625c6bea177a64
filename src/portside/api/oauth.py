"""The token service on each registry's host: `/oauth2/token` and `/oauth2/exchange`.

Docker token auth (GET with Basic credentials, POST with `grant_type=password` or
`refresh_token`) and ACR's exchange of a trusted issuer's token for a refresh token. Each
handler reads the request, makes one `OAuthService` call and renders the JSON the clients
expect; errors use the OCI error body like the rest of the API.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portside.api.access import client_of
from portside.api.audit import note_identity, note_presented, note_token
from portside.api.credentials import credentials_of
from portside.api.state import app_state
from portside.services.access.oauth import ExchangeRequest, TokenRequest
from portside.services.errors import ParameterInvalid

__all__ = ["exchange", "jwks", "token_get", "token_post"]

_MAX_FORM_BYTES = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _form(request: Request) -> FormData:
    """The urlencoded form, read only up to `_MAX_FORM_BYTES` whether or not the client sent
    `Content-Length` (a chunked body is counted as it arrives)."""
    length = request.headers.get("content-length")
    if length is not None and (
        not (length.isascii() and length.isdigit()) or int(length) > _MAX_FORM_BYTES
    ):
        raise ParameterInvalid("form too large or with an invalid Content-Length")
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise ParameterInvalid("expected an application/x-www-form-urlencoded body")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise ParameterInvalid("form too large")
    try:
        # Decoded as Starlette's form parser does: bytes as latin-1, escapes as UTF-8.
        fields: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=200)
        )
    except ValueError:
        raise ParameterInvalid("too many form fields") from None
    return FormData(fields)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _host(request: Request) -> str:
    return request.headers.get("host", "")


async def _token(request: Request, asked: TokenRequest) -> Response:
    """The one service call of both token requests, rendered as Docker's clients expect."""
    oauth = app_state(request).oauth
    answer = await oauth.token(
        _host(request), credentials_of(request.headers), asked, client=client_of(request)
    )
    issued = answer.issued
    note_token(request, issued.token)
    body: dict[str, object] = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at.isoformat().replace("+00:00", "Z"),
    }
    if answer.refresh_token is not None:
        body["refresh_token"] = answer.refresh_token
    return JSONResponse(body, headers=_NO_STORE)


async def token_get(request: Request) -> Response:
    """Docker's token request: Basic credentials (or none), `service`, repeated `scope`."""
    params = request.query_params
    asked = TokenRequest(
        service=params.get("service"),
        scopes=tuple(params.getlist("scope")),
        offline=params.get("offline_token", "").lower() == "true",
    )
    return await _token(request, asked)


async def token_post(request: Request) -> Response:
    """OAuth2 token request: `grant_type=password` or `refresh_token` (ACR and containerd)."""
    form = await _form(request)
    asked = TokenRequest(
        service=_field(form, "service") or None,
        scopes=tuple(v for v in form.getlist("scope") if isinstance(v, str)),
        offline=_field(form, "access_type") == "offline",
        grant_type=_field(form, "grant_type"),
        username=_field(form, "username"),
        password=_field(form, "password"),
        refresh_token=_field(form, "refresh_token"),
    )
    note_presented(request, asked.username, asked.refresh_token)
    return await _token(request, asked)


async def exchange(request: Request) -> Response:
    """ACR's exchange: a trusted issuer's access token for a refresh token of this registry."""
    form = await _form(request)
    asked = ExchangeRequest(
        service=_field(form, "service") or None,
        grant_type=_field(form, "grant_type"),
        access_token=_field(form, "access_token"),
        tenant=_field(form, "tenant") or None,
    )
    if asked.access_token:  # a trusted issuer's token: its subject is known once accepted
        note_identity(request, "federated", "")
    refresh = await app_state(request).oauth.exchange(_host(request), asked)
    note_token(request, refresh)
    return JSONResponse({"refresh_token": refresh}, headers=_NO_STORE)


async def jwks(request: Request) -> Response:
    """The public keys that verify this deployment's tokens (JWKS)."""
    return JSONResponse(await app_state(request).oauth.jwks())
