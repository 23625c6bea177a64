"""What the data-plane handlers hold while the application runs: the process's Runtime
(portside/runtime), set by `create_app` in its lifespan, and what the access step leaves on a
request."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from portside.auth.credentials import Credentials
from portside.auth.policy import Grant
from portside.metadata.records import RegistryRecord
from portside.runtime import Runtime

__all__ = ["app_state", "credentials_from", "grant_of", "registry_of"]


def app_state(request: Request) -> Runtime:
    """The running application's runtime: the services the handlers call."""
    return cast(Runtime, request.app.state.portside)


def registry_of(request: Request) -> RegistryRecord:
    """The registry this request addresses (set by the access step)."""
    return cast(RegistryRecord, request.state.registry)


def grant_of(request: Request) -> Grant:
    """What the caller was granted (set by the access step)."""
    return cast(Grant, request.state.grant)


def credentials_from(request: Request) -> Credentials:
    """The credentials the request presented, as the access step read them (set by it)."""
    return cast(Credentials, request.state.credentials)
