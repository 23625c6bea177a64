"""Cache rules and credential sets (pull-through from upstream registries): list, create,
update, delete. A credential set's password is sealed on the server and never shown again;
the page only offers a form to replace it. Contributor or Owner, as the management API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.portal.access import RegistryPage
from portside.portal.signin import Viewer
from portside.portal.web import managed_page, managing, portal_of, runtime_of
from portside.runtime import Runtime
from portside.services.imports.cache_rules import DEFAULT_TTL_SECONDS, CacheRuleSpec
from portside.services.imports.credential_sets import CredentialSetSpec
from portside.services.management.errors import Invalid

__all__ = ["routes"]

# A form's change: the runtime, the registry's name and the checked fields.
_Change = Callable[[Runtime, str, Mapping[str, str]], Awaitable[object]]


async def _render(
    request: Request, viewer: Viewer, page: RegistryPage, *, error: str = "", status: int = 200
) -> Response:
    runtime = runtime_of(request)
    context = {
        "page": page,
        "rules": await runtime.cache_rules.list(page.name),
        "sets": await runtime.credential_sets.list(page.name),
        "default_ttl": DEFAULT_TTL_SECONDS,
        "error": error,
    }
    return portal_of(request).render(request, "cache.html", context, viewer=viewer, status=status)


async def cache(request: Request) -> Response:
    """The registry's cache rules and credential sets."""
    viewer, page = await managed_page(request)
    return await _render(request, viewer, page)


def _form(change: _Change) -> Callable[[Request], Awaitable[Response]]:
    """A POST route doing `change`; bad input gets the page back with its message (400)."""

    async def route(request: Request) -> Response:
        viewer, page, fields = await managing(request)
        try:
            await change(runtime_of(request), page.name, fields)
        except Invalid as error:
            return await _render(request, viewer, page, error=error.message, status=400)
        root = request.scope.get("root_path", "")
        return RedirectResponse(f"{root}/registries/{page.name}/cache", 303)

    route.__doc__ = change.__doc__
    return route


def _ttl(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise Invalid(f"the time to live {text[:20]!r} is not a whole number of seconds")
    return int(text)


def _optional(text: str) -> str | None:
    return text.strip() or None


async def _create_rule(runtime: Runtime, name: str, fields: Mapping[str, str]) -> object:
    """Add a cache rule."""
    spec = CacheRuleSpec(
        source_repo=fields.get("source", "").strip(),
        target_repo=fields.get("target", "").strip(),
        credential_set=_optional(fields.get("credential_set", "")),
        ttl_seconds=_ttl(fields.get("ttl", "")),
        allow_push=fields.get("allow_push") == "on",
    )
    return await runtime.cache_rules.create(name, fields.get("rule", "").strip(), spec)


async def _update_rule(runtime: Runtime, name: str, fields: Mapping[str, str]) -> object:
    """Change a cache rule's credential set (none: removed), time to live and pushes."""
    chosen = _optional(fields.get("credential_set", ""))
    spec = CacheRuleSpec(
        credential_set=chosen,
        ttl_seconds=_ttl(fields.get("ttl", "")),
        allow_push=fields.get("allow_push") == "on",
        clear_credential_set=chosen is None,
    )
    return await runtime.cache_rules.update(name, fields.get("rule", ""), spec)


async def _delete_rule(runtime: Runtime, name: str, fields: Mapping[str, str]) -> object:
    """Remove a cache rule (what it cached stays)."""
    await runtime.cache_rules.delete(name, fields.get("rule", ""))
    return None


async def _create_set(runtime: Runtime, name: str, fields: Mapping[str, str]) -> object:
    """Store credentials for an upstream login server (the password is never shown again)."""
    spec = CredentialSetSpec(
        login_server=fields.get("login_server", "").strip(),
        username=fields.get("username", "").strip(),
        password=fields.get("password", ""),
    )
    return await runtime.credential_sets.create(name, fields.get("set", "").strip(), spec)


async def _update_set(runtime: Runtime, name: str, fields: Mapping[str, str]) -> object:
    """Replace a credential set's user name and password (empty fields keep theirs)."""
    spec = CredentialSetSpec(
        username=_optional(fields.get("username", "")),
        password=fields.get("password", "") or None,
    )
    return await runtime.credential_sets.update(name, fields.get("set", ""), spec)


async def _delete_set(runtime: Runtime, name: str, fields: Mapping[str, str]) -> object:
    """Remove a credential set."""
    await runtime.credential_sets.delete(name, fields.get("set", ""))
    return None


def routes() -> list[Route]:
    """The cache rule and credential set routes."""
    base = "/registries/{name}/cache"
    return [
        Route(base, cache, methods=["GET"]),
        Route(f"{base}/rules", _form(_create_rule), methods=["POST"]),
        Route(f"{base}/rules/update", _form(_update_rule), methods=["POST"]),
        Route(f"{base}/rules/delete", _form(_delete_rule), methods=["POST"]),
        Route(f"{base}/credential-sets", _form(_create_set), methods=["POST"]),
        Route(f"{base}/credential-sets/update", _form(_update_set), methods=["POST"]),
        Route(f"{base}/credential-sets/delete", _form(_delete_set), methods=["POST"]),
    ]
