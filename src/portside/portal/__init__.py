"""The web portal: pages to create and run registries from a browser, served by the server
itself at `/portal/` over the same services (portside/runtime) and authorization as the APIs.

`create_portal_app(runtime)` builds it; the application mounts it (api/app.py).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from portside.portal.access import RegistryAccess
from portside.portal.directory import DirectorySignIn
from portside.portal.pages import (
    content,
    directory,
    grants,
    imports,
    issuers,
    limits,
    policies,
    principals,
    purge,
    registries,
    replications,
    signin,
    tokens,
    upstreams,
    webhook_settings,
)
from portside.portal.signin import PortalSignIn
from portside.portal.web import Portal, SecurityHeaders, handled_errors
from portside.runtime import Runtime

__all__ = ["create_portal_app"]


def create_portal_app(runtime: Runtime) -> Starlette:
    """The portal over `runtime` (built and closed by the caller)."""
    portal = Portal(PortalSignIn(runtime), RegistryAccess(runtime))

    async def domain_error(request: Request, error: Exception) -> Response:
        return portal.error_page(request, error)

    static = StaticFiles(directory=Path(__file__).parent / "static")
    app = Starlette(
        routes=[
            *signin.routes(),
            *registries.routes(),
            *content.routes(),
            *tokens.routes(),
            *policies.routes(),
            *grants.routes(),
            *principals.routes(),
            *limits.routes(),
            *purge.routes(),
            *webhook_settings.routes(),
            *upstreams.routes(),
            *imports.routes(),
            *replications.routes(),
            *directory.routes(),
            *issuers.routes(),
            Mount("/static", app=static),
        ],
        exception_handlers={kind: domain_error for kind in handled_errors()},
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.portal = portal
    app.state.runtime = runtime
    app.state.directory = DirectorySignIn(runtime)
    return app
