"""Routes: a registry's replications (`az acr replication`) and their status."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from portside.api.management.replication_models import (
    Replication,
    ReplicationCreate,
    ReplicationStatus,
    ReplicationUpdate,
)
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import ContributorCaller
from portside.services.replication.service import ReplicationService

__all__ = ["replication_of", "router"]

router = ManagementRouter(tag="replications")

_ALL = "/registries/{name}/replications"
_ONE = "/registries/{name}/replications/{location}"


def replication_of(request: Request) -> ReplicationService:
    """The replication service the app was built with."""
    service = request.app.state.replication
    assert isinstance(service, ReplicationService)
    return service


@router.get(_ALL, summary="List replications")
async def list_replications(
    request: Request, name: str, caller: ContributorCaller
) -> list[Replication]:
    """The locations the registry is replicated to."""
    return [Replication.of(one) for one in await replication_of(request).list(name)]


@router.post(_ALL, status_code=201, summary="Create a replication")
async def create_replication(
    request: Request, name: str, body: ReplicationCreate, caller: ContributorCaller
) -> Replication:
    """Replicate the registry to a location the deployment knows."""
    service = replication_of(request)
    return Replication.of(await service.create(name, body.location, body.region_endpoint_enabled))


@router.get(f"{_ALL}/status", summary="Replication status")
async def replication_status(
    request: Request,
    name: str,
    caller: ContributorCaller,
    image: Annotated[str | None, Query(max_length=600)] = None,
) -> ReplicationStatus:
    """Per location: an image's (`REPO:TAG` or `REPO@DIGEST`) blobs present and bytes
    pending, or without `image` the registry's backlog."""
    return ReplicationStatus.of(await replication_of(request).status(name, image))


@router.get(_ONE, summary="Show a replication")
async def show_replication(
    request: Request, name: str, location: str, caller: ContributorCaller
) -> Replication:
    """One replication."""
    return Replication.of(await replication_of(request).show(name, location))


@router.patch(_ONE, summary="Update a replication")
async def update_replication(
    request: Request, name: str, location: str, body: ReplicationUpdate, caller: ContributorCaller
) -> Replication:
    """Take the location out of routing (`regionEndpointEnabled: false`) or back in."""
    service = replication_of(request)
    return Replication.of(await service.update(name, location, body.region_endpoint_enabled))


@router.delete(_ONE, status_code=204, summary="Delete a replication")
async def delete_replication(
    request: Request, name: str, location: str, caller: ContributorCaller
) -> Response:
    """Stop replicating to the location."""
    await replication_of(request).delete(name, location)
    return Response(status_code=204)
