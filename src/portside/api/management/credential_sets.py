"""Routes: a registry's credential sets for upstream registries (`az acr credential-set`)."""

from __future__ import annotations

from fastapi import Request, Response

from portside.api.management.credential_sets_models import (
    CredentialSet,
    CredentialSetCreate,
    CredentialSetUpdate,
)
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import ContributorCaller
from portside.services.imports.credential_sets import CredentialSetService

__all__ = ["credential_sets_of", "router"]

router = ManagementRouter(tag="credential sets")

_ALL = "/registries/{name}/credentialSets"
_ONE = "/registries/{name}/credentialSets/{credential_set}"


def credential_sets_of(request: Request) -> CredentialSetService:
    """The credential-set service the app was built with."""
    service = request.app.state.credential_sets
    assert isinstance(service, CredentialSetService)
    return service


@router.get(_ALL, summary="List credential sets")
async def list_credential_sets(
    request: Request, name: str, caller: ContributorCaller
) -> list[CredentialSet]:
    """The registry's credential sets, by name (passwords masked)."""
    return [CredentialSet.of(view) for view in await credential_sets_of(request).list(name)]


@router.post(_ALL, status_code=201, summary="Create a credential set")
async def create_credential_set(
    request: Request, name: str, body: CredentialSetCreate, caller: ContributorCaller
) -> CredentialSet:
    """Store credentials for an upstream login server; the password is sealed with the
    deployment key and never shown again."""
    return CredentialSet.of(await credential_sets_of(request).create(name, body.name, body.spec()))


@router.get(_ONE, summary="Show a credential set")
async def show_credential_set(
    request: Request, name: str, credential_set: str, caller: ContributorCaller
) -> CredentialSet:
    """One credential set (password masked)."""
    return CredentialSet.of(await credential_sets_of(request).show(name, credential_set))


@router.patch(_ONE, summary="Update a credential set")
async def update_credential_set(
    request: Request,
    name: str,
    credential_set: str,
    body: CredentialSetUpdate,
    caller: ContributorCaller,
) -> CredentialSet:
    """Change the login server, user name or password."""
    service = credential_sets_of(request)
    return CredentialSet.of(await service.update(name, credential_set, body.spec()))


@router.delete(_ONE, status_code=204, summary="Delete a credential set")
async def delete_credential_set(
    request: Request, name: str, credential_set: str, caller: ContributorCaller
) -> Response:
    """Remove a credential set."""
    await credential_sets_of(request).delete(name, credential_set)
    return Response(status_code=204)
