"""The access step in front of every /v2/ route: resolve the registry, then authorize.

Routes are registered as `guarded(endpoint, rule)`; a rule names the scopes the request needs
from its path parameters. Handlers never check access themselves; those that have an optional
check (a cross-repository mount's source) ask the grant left on `request.state`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from portside.api.credentials import credentials_of
from portside.api.state import app_state
from portside.auth.errors import Unauthorized
from portside.auth.scopes import Scope

__all__ = [
    "CATALOG",
    "DELETE",
    "METADATA_READ",
    "METADATA_WRITE",
    "NONE",
    "PULL",
    "PUSH",
    "Endpoint",
    "Rule",
    "challenge",
    "client_of",
    "guarded",
]

Endpoint = Callable[[Request], Awaitable[Response]]
Rule = Callable[[Request], tuple[Scope, ...]]


def _repository(*actions: str) -> Rule:
    def rule(request: Request) -> tuple[Scope, ...]:
        return (Scope.repository(request.path_params["name"], *actions),)

    return rule


PULL = _repository("pull")
PUSH = _repository("pull", "push")
DELETE = _repository("delete")
METADATA_READ = _repository("metadata_read")
METADATA_WRITE = _repository("metadata_write")


def NONE(request: Request) -> tuple[Scope, ...]:
    """No scope: the request only needs to be authenticated (or anonymous access allowed)."""
    return ()


def CATALOG(request: Request) -> tuple[Scope, ...]:
    """The registry catalog scope."""
    return (Scope("registry", "catalog", frozenset({"*"})),)


def guarded(endpoint: Endpoint, rule: Rule) -> Endpoint:
    """Wrap `endpoint` so that it runs only after the access step has passed."""

    async def guarded_endpoint(request: Request) -> Response:
        state = app_state(request)
        host = request.headers.get("host", "")
        registry = await state.directory.resolve_or_raise(host)
        request.state.registry = registry
        # Before authorizing: a flood of bad credentials is also a flood (and costs hashing).
        await state.request_throttle.admit(registry, request.method)
        required = rule(request)
        credentials = request.state.credentials = credentials_of(request.headers)
        try:
            request.state.grant = await state.policy.authorize(
                registry,
                credentials,
                required,
                client=client_of(request),
                host=host,
            )
        except Unauthorized as error:
            error.challenge = challenge(request, required, error.insufficient)
            raise
        return await endpoint(request)

    guarded_endpoint.__name__ = endpoint.__name__
    guarded_endpoint.__doc__ = endpoint.__doc__
    return guarded_endpoint


def client_of(request: Request) -> str:
    """The caller's network address (a proxy's, behind one), which logins are throttled by."""
    return request.client.host if request.client is not None else ""


def challenge(request: Request, required: tuple[Scope, ...], insufficient: bool = False) -> str:
    """Docker's Bearer challenge: where to get a token, for which service and scopes."""
    host = request.headers.get("host", "")
    scheme = request.url.scheme
    forwarded = request.headers.get("x-forwarded-proto", "").strip().lower()
    if app_state(request).settings.trust_forwarded_proto and forwarded in ("http", "https"):
        scheme = forwarded
    parts = [f'realm="{scheme}://{host}/oauth2/token"', f'service="{host}"']
    if required:
        parts.append(f'scope="{" ".join(str(scope) for scope in required)}"')
    if insufficient:
        parts.append('error="insufficient_scope"')
    return "Bearer " + ",".join(parts)
