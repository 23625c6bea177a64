"""Routes: import into a registry (`az acr import`), run server-side as a job whose status
any node answers."""

from __future__ import annotations

from fastapi import Request

from portside.api.management.imports_models import ImportCreate, ImportJob
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import ContributorCaller, service_of
from portside.auth.errors import Denied
from portside.services.imports.imports import ImportService
from portside.services.management.admin import Caller
from portside.services.management.errors import NotFound

__all__ = ["imports_of", "router"]

router = ManagementRouter(tag="imports")

_ALL = "/registries/{name}/imports"


def imports_of(request: Request) -> ImportService:
    """The import service the app was built with."""
    service = request.app.state.imports
    assert isinstance(service, ImportService)
    return service


async def _may_read_registry(request: Request, caller: Caller, registry: str) -> None:
    """An import from another registry of the deployment needs rights there too."""
    if caller.is_admin:
        return
    service = service_of(request)
    try:
        view = await service.registries.show(registry)
    except NotFound:
        raise Denied("this needs the Contributor or Owner role on the source registry") from None
    await service.auth.require_registry(caller, view.record, owner=False)


@router.post(_ALL, status_code=202, summary="Import an image")
async def start_import(
    request: Request, name: str, body: ImportCreate, caller: ContributorCaller
) -> ImportJob:
    """Queue an import from an upstream registry or another registry of this deployment;
    follow it with GET .../imports/{id}."""
    if body.source_registry is not None:
        await _may_read_registry(request, caller, body.source_registry)
    return ImportJob.of(await imports_of(request).start(name, body.request()))


@router.get(_ALL, summary="List imports")
async def list_imports(request: Request, name: str, caller: ContributorCaller) -> list[ImportJob]:
    """The registry's recent imports, newest first."""
    return [ImportJob.of(job) for job in await imports_of(request).list(name)]


@router.get(_ALL + "/{job}", summary="Show an import")
async def show_import(
    request: Request, name: str, job: str, caller: ContributorCaller
) -> ImportJob:
    """One import: its status, bytes done and total, result or error."""
    return ImportJob.of(await imports_of(request).get(name, job))
