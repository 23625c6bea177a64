"""The ASGI application: `create_app(settings)` serves the parts the composition root builds.

Its lifespan builds a `Runtime` (portside/runtime), which the handlers use, makes the server's
starting state, and runs the background jobs until shutdown; then the runtime closes what it
opened. The management app (FastAPI and its models, about half of a worker's imports) is built
on the first request to `/api/v1`, so that a worker answers `/v2/` sooner after a start.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from portside.api.audit import AuditTrail
from portside.api.errors import exception_handlers
from portside.api.health import probe_storage_at_start
from portside.api.metrics import RequestMetrics
from portside.api.middleware import BodyDrain, RegistryHeaders
from portside.api.routes import routes
from portside.config import Settings, metrics_directory, settings_from_environment
from portside.runtime import Runtime
from portside.runtime.metrics import Metrics

__all__ = ["ManagementMount", "PortalMount", "app_from_environment", "create_app"]


def create_app(settings: Settings) -> Starlette:
    """A Portside ASGI application; its parts are built and closed in its lifespan."""
    # Built here, not in the lifespan: the middleware that feeds it exists before the runtime.
    metrics = Metrics(metrics_directory())
    audit = AuditTrail()  # likewise; attached to the runtime's audit log in the lifespan

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Runtime(settings, metrics=metrics) as runtime:
            # The handlers' parts first: a storage driver that cannot be built (a bad
            # setting) stops the start before anything is written.
            _ = (runtime.blobs, runtime.uploads, runtime.manifests, runtime.listings)
            _ = (runtime.artifacts, runtime.oauth)
            app.state.portside = runtime
            await runtime.prepare()
            await probe_storage_at_start(runtime.driver)
            audit.attach(runtime.audit, runtime.directory.name_for_host)
            async with anyio.create_task_group() as tasks:
                runtime.start_jobs(tasks)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
                    metrics.process_exited(os.getpid())

    return Starlette(
        routes=[
            *routes(),
            Mount("/api/v1", app=ManagementMount()),
            Mount("/portal", app=PortalMount()),
        ],
        exception_handlers=exception_handlers(),
        middleware=[
            Middleware(
                RegistryHeaders,
                access_log=settings.access_log,
                observer=RequestMetrics(metrics),
                audit=audit,
            ),
            Middleware(BodyDrain),
        ],
        lifespan=lifespan,
    )


class ManagementMount:
    """ASGI app at `/api/v1` forwarding to the management API, built on its first request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward to the running application's management app (building it first if needed)."""
        state = scope["app"].state
        api = getattr(state, "management_api", None)
        if api is None:
            runtime = getattr(state, "portside", None)
            if runtime is None:
                raise RuntimeError("the management API is not running (lifespan not started)")
            # Imported here: a worker that only serves /v2/ never loads FastAPI. Building is
            # synchronous, so two first requests cannot both build.
            from portside.api.management.app import management_app_for

            api = state.management_api = management_app_for(runtime)
        await api(scope, receive, send)


class PortalMount:
    """ASGI app at `/portal` forwarding to the web portal, built on its first request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward to the running application's portal (building it first if needed)."""
        state = scope["app"].state
        portal = getattr(state, "portal", None)
        if portal is None:
            runtime = getattr(state, "portside", None)
            if runtime is None:
                raise RuntimeError("the portal is not running (lifespan not started)")
            # Imported here for the same reason as the management API: Jinja2 and the pages
            # load only in a worker that serves them.
            from portside.portal import create_portal_app

            portal = state.portal = create_portal_app(runtime)
        await portal(scope, receive, send)


def app_from_environment() -> Starlette:
    """Factory for server workers: settings exported by `portside serve`."""
    return create_app(settings_from_environment())
