"""The ASGI application: `create_app(settings)` serves the parts the composition root builds.

Its lifespan builds a `Runtime` (portside/runtime), which the handlers use, makes the server's
starting state, builds the management app from the runtime, and runs the background jobs until
shutdown; then the runtime closes what it opened.
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

from portside.api.errors import exception_handlers
from portside.api.management import create_management_app
from portside.api.metrics import RequestMetrics
from portside.api.middleware import BodyDrain, RegistryHeaders
from portside.api.routes import routes
from portside.config import Settings, metrics_directory, settings_from_environment
from portside.runtime import Runtime
from portside.runtime.metrics import Metrics

__all__ = ["ManagementMount", "app_from_environment", "create_app"]


def create_app(settings: Settings) -> Starlette:
    """A Portside ASGI application; its parts are built and closed in its lifespan."""
    # Built here, not in the lifespan: the middleware that feeds it exists before the runtime.
    metrics = Metrics(metrics_directory())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Runtime(settings, metrics=metrics) as runtime:
            # The handlers' parts first: a storage driver that cannot be built (a bad
            # setting) stops the start before anything is written.
            _ = (runtime.blobs, runtime.uploads, runtime.manifests, runtime.listings)
            _ = (runtime.artifacts, runtime.oauth)
            app.state.portside = runtime
            await runtime.prepare()
            app.state.management_api = create_management_app(
                runtime.management, runtime.lifecycle, runtime.webhooks, runtime.replication
            )
            async with anyio.create_task_group() as tasks:
                runtime.start_jobs(tasks)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
                    metrics.process_exited(os.getpid())

    return Starlette(
        routes=[*routes(), Mount("/api/v1", app=ManagementMount())],
        exception_handlers=exception_handlers(),
        middleware=[
            Middleware(
                RegistryHeaders,
                access_log=settings.access_log,
                observer=RequestMetrics(metrics),
            ),
            Middleware(BodyDrain),
        ],
        lifespan=lifespan,
    )


class ManagementMount:
    """ASGI app at `/api/v1` forwarding to the management API built in the lifespan."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward to the running application's management app."""
        api = getattr(scope["app"].state, "management_api", None)
        if api is None:
            raise RuntimeError("the management API is not running (lifespan not started)")
        await api(scope, receive, send)


def app_from_environment() -> Starlette:
    """Factory for server workers: settings exported by `portside serve`."""
    return create_app(settings_from_environment())
