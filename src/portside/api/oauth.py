"""The token service on each registry's host: `/oauth2/token` and `/oauth2/exchange`.

Docker token auth (GET with Basic credentials, POST with `grant_type=password` or
`refresh_token`) and ACR's exchange of a trusted issuer's token for a refresh token. Answers
are the JSON the clients expect; errors use the OCI error body like the rest of the API.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portside.api.credentials import credentials_of
from portside.api.state import app_state
from portside.auth.credentials import Basic, Malformed
from portside.auth.errors import Unauthorized
from portside.auth.identity import ANONYMOUS, Login
from portside.auth.scopes import Scope, ScopeError, parse_scopes
from portside.metadata.records import RegistryRecord
from portside.services.errors import ParameterInvalid

__all__ = ["exchange", "jwks", "token_get", "token_post"]

_MAX_FORM_BYTES = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _registry(request: Request, service: str | None) -> tuple[RegistryRecord, str]:
    """The registry the token endpoint's host addresses, and the service the token is for."""
    host = request.headers.get("host", "")
    return await app_state(request).directory.resolve_service(host, service)


def _scopes(values: list[str]) -> tuple[Scope, ...]:
    try:
        return parse_scopes(values)
    except ScopeError as error:
        raise ParameterInvalid(f"invalid scope: {error}") from None


async def _form(request: Request) -> FormData:
    length = request.headers.get("content-length") or "0"
    if not (length.isascii() and length.isdigit()) or int(length) > _MAX_FORM_BYTES:
        raise ParameterInvalid("form too large or with an invalid Content-Length")
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise ParameterInvalid("expected an application/x-www-form-urlencoded body")
    return await request.form(max_files=0, max_fields=200)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _token_answer(
    request: Request,
    registry: RegistryRecord,
    login: Login,
    scopes: tuple[Scope, ...],
    service: str,
    offline: bool,
) -> Response:
    oauth = app_state(request).oauth
    identity, secret = login.identity, login.secret
    issued = await oauth.access_token(registry, identity, scopes, service, secret=secret)
    body: dict[str, object] = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at.isoformat().replace("+00:00", "Z"),
    }
    if offline and identity.kind != "anonymous":
        body["refresh_token"] = await oauth.refresh_token(
            registry, identity, service, secret=secret
        )
    return JSONResponse(body, headers=_NO_STORE)


async def token_get(request: Request) -> Response:
    """Docker's token request: Basic credentials (or none), `service`, repeated `scope`."""
    params = request.query_params
    registry, service = await _registry(request, params.get("service"))
    scopes = _scopes(params.getlist("scope"))
    login = await _caller(request, registry)
    offline = params.get("offline_token", "").lower() == "true"
    return await _token_answer(request, registry, login, scopes, service, offline)


async def token_post(request: Request) -> Response:
    """OAuth2 token request: `grant_type=password` or `refresh_token` (ACR and containerd)."""
    form = await _form(request)
    registry, service = await _registry(request, _field(form, "service") or None)
    scopes = _scopes([v for v in form.getlist("scope") if isinstance(v, str)])
    policy = app_state(request).policy
    grant_type = _field(form, "grant_type")
    if grant_type == "refresh_token":
        refresh = _field(form, "refresh_token")
        if not refresh:
            raise ParameterInvalid("refresh_token is required")
        login = await policy.refresh_login(registry, refresh)
    elif grant_type == "password":
        username, password = _field(form, "username"), _field(form, "password")
        if username or password:
            login = await policy.login(registry, username, password)
        elif _field(form, "refresh_token"):
            login = await policy.refresh_login(registry, _field(form, "refresh_token"))
        else:
            # ACR's anonymous flow: the SDK posts grant_type=password with nothing else.
            login = await _caller(request, registry)
    else:
        raise ParameterInvalid("grant_type must be password or refresh_token")
    offline = _field(form, "access_type") == "offline"
    return await _token_answer(request, registry, login, scopes, service, offline)


async def exchange(request: Request) -> Response:
    """ACR's exchange: a trusted issuer's access token for a refresh token of this registry."""
    form = await _form(request)
    registry, service = await _registry(request, _field(form, "service") or None)
    if _field(form, "grant_type") != "access_token":
        raise ParameterInvalid("grant_type must be access_token")
    external = _field(form, "access_token")
    if not external:
        raise ParameterInvalid("access_token is required")
    tenant = _field(form, "tenant") or None
    refresh = await app_state(request).oauth.exchange(registry, external, tenant, service)
    return JSONResponse({"refresh_token": refresh}, headers=_NO_STORE)


async def jwks(request: Request) -> Response:
    """The public keys that verify this deployment's tokens (JWKS)."""
    service = await app_state(request).keys.service()
    return JSONResponse(service.jwks())


async def _caller(request: Request, registry: RegistryRecord) -> Login:
    """The identity of the request's Basic credentials; anonymous without any."""
    credentials = credentials_of(request.headers)
    if credentials is None:
        return Login(ANONYMOUS)
    if isinstance(credentials, Malformed):
        raise credentials.error()
    if not isinstance(credentials, Basic):
        raise Unauthorized("the token endpoint takes Basic credentials")
    policy = app_state(request).policy
    return await policy.login(registry, credentials.username, credentials.password)
