"""The access step in front of every /v2/ route: resolve the registry, then authorize.

Routes are registered as `guarded(endpoint, rule)`; a rule names the scopes the request needs
from its path parameters. Handlers never check access themselves; those that have an optional
check (a cross-repository mount's source) ask the grant left on `request.state`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from portside.api.state import app_state
from portside.auth.policy import AccessRequest
from portside.auth.scopes import Scope

__all__ = ["CATALOG", "DELETE", "NONE", "PULL", "PUSH", "Endpoint", "Rule", "guarded"]

Endpoint = Callable[[Request], Awaitable[Response]]
Rule = Callable[[Request], tuple[Scope, ...]]


def _repository(*actions: str) -> Rule:
    def rule(request: Request) -> tuple[Scope, ...]:
        return (Scope.repository(request.path_params["name"], *actions),)

    return rule


PULL = _repository("pull")
PUSH = _repository("pull", "push")
DELETE = _repository("delete")


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
        registry = state.default_registry
        request.state.registry = registry
        request.state.grant = await state.authorizer.authorize(
            AccessRequest(registry.name, request.headers.get("authorization"), rule(request))
        )
        return await endpoint(request)

    guarded_endpoint.__name__ = endpoint.__name__
    guarded_endpoint.__doc__ = endpoint.__doc__
    return guarded_endpoint
