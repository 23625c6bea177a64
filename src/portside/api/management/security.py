"""Who is calling: HTTP Basic credentials checked by the management service, and the guards
routes declare (`AdminCaller`, `ContributorCaller`, `OwnerCaller`).

User `admin` with the deployment administrator's password may do everything. A service
principal (its id and a secret) may manage the registries where it holds Contributor (the
registry, its tokens, scope maps, credentials and repositories) or Owner (also its role
assignments) over every repository; creating and deleting registries, service principals and
signing keys stay with the administrator.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.requests import HTTPConnection

from portside.api.credentials import credentials_of
from portside.api.management.caller import CALLER_STATE
from portside.auth.credentials import Basic
from portside.auth.errors import Denied, Unauthorized
from portside.services.access.hosts import well_formed_host
from portside.services.management.admin import Caller
from portside.services.management.errors import NotFound
from portside.services.management.service import ManagementService

__all__ = [
    "AdminCaller",
    "AnyCaller",
    "ContributorCaller",
    "OwnerCaller",
    "host_of",
    "service_of",
]


class _Basic(HTTPBasic):
    """HTTP Basic for the OpenAPI document; the credentials, None when absent or unusable."""

    async def __call__(  # type: ignore[override]
        self, request: HTTPConnection
    ) -> HTTPBasicCredentials | None:
        credentials = credentials_of(request.headers)
        if not isinstance(credentials, Basic):
            return None
        return HTTPBasicCredentials(username=credentials.username, password=credentials.password)


_BASIC = _Basic(
    scheme_name="basic",
    description="`admin` and the deployment administrator's password, or a service "
    "principal's id and secret.",
    auto_error=False,
)


def service_of(request: Request) -> ManagementService:
    """The management service the app was built with."""
    service = request.app.state.management
    assert isinstance(service, ManagementService)
    return service


def host_of(request: Request) -> str | None:
    """The Host the caller used (the default registry's login server), if well formed."""
    host = request.headers.get("host", "")
    return host.lower() if well_formed_host(host) else None


async def _caller(
    request: Request, credentials: Annotated[HTTPBasicCredentials | None, Security(_BASIC)]
) -> Caller:
    # RequestGate authenticated the request before its body was read; reuse its answer.
    checked = getattr(request.state, CALLER_STATE, None)
    if isinstance(checked, Caller):
        return checked
    if credentials is None:
        raise Unauthorized("authentication required: use HTTP Basic credentials")
    client = request.client.host if request.client is not None else ""
    return await service_of(request).auth.authenticate(
        credentials.username, credentials.password, client=client
    )


AnyCaller = Annotated[Caller, Depends(_caller)]
"""Any authenticated caller (routes filter what it sees)."""


async def _admin(request: Request, caller: AnyCaller) -> Caller:
    service_of(request).auth.require_admin(caller)
    return caller


class _RegistryGuard:
    """Allows the administrator, and service principals with a management role on `{name}`."""

    def __init__(self, *, owner: bool) -> None:
        self._owner = owner

    async def __call__(self, request: Request, name: str, caller: AnyCaller) -> Caller:
        if caller.is_admin:
            return caller
        service = service_of(request)
        try:
            view = await service.registries.show(name)
        except NotFound:
            # Do not tell callers without rights which registries exist.
            raise Denied("this needs the Contributor or Owner role on the registry") from None
        await service.auth.require_registry(caller, view.record, owner=self._owner)
        return caller


AdminCaller = Annotated[Caller, Depends(_admin)]
"""The deployment administrator only."""

ContributorCaller = Annotated[Caller, Depends(_RegistryGuard(owner=False))]
"""The administrator, or a Contributor or Owner of the registry `{name}`."""

OwnerCaller = Annotated[Caller, Depends(_RegistryGuard(owner=True))]
"""The administrator, or an Owner of the registry `{name}`."""
