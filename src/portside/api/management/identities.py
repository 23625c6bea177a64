"""Routes: service principals, role assignments, signing-key rotation and retirement."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam
from fastapi import Query, Request, Response

from portside.api.management.identity_models import (
    KeyRotate,
    RoleAssignment,
    RoleAssignmentCreate,
    SecretAdd,
    ServicePrincipal,
    ServicePrincipalCreate,
    SigningKey,
)
from portside.api.management.models import Password
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import AdminCaller, OwnerCaller, service_of

__all__ = ["router"]

router = ManagementRouter(tag="identities")

AssignmentId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
Assignee = Annotated[str | None, Query(max_length=255)]
Kid = Annotated[str, PathParam(min_length=1, max_length=64)]


@router.get("/service-principals", summary="List service principals")
async def list_principals(request: Request, caller: AdminCaller) -> list[ServicePrincipal]:
    """Every service principal, with its secrets' names and times (never values)."""
    return [ServicePrincipal.of(view) for view in await service_of(request).principals.list()]


@router.post("/service-principals", status_code=201, summary="Create a service principal")
async def create_principal(
    request: Request, body: ServicePrincipalCreate, caller: AdminCaller
) -> ServicePrincipal:
    """A new service principal: its `id` is the user name, `secrets[0].value` the password,
    shown only here."""
    view = await service_of(request).principals.create(body.name, body.expiration_in_days)
    return ServicePrincipal.of(view)


@router.get("/service-principals/{principal_id}", summary="Show a service principal")
async def show_principal(
    request: Request, principal_id: str, caller: AdminCaller
) -> ServicePrincipal:
    """One service principal."""
    return ServicePrincipal.of(await service_of(request).principals.show(principal_id))


@router.delete(
    "/service-principals/{principal_id}", status_code=204, summary="Delete a service principal"
)
async def delete_principal(request: Request, principal_id: str, caller: AdminCaller) -> Response:
    """Remove a service principal, its secrets and its role assignments in every registry."""
    await service_of(request).principals.delete(principal_id)
    return Response(status_code=204)


@router.post(
    "/service-principals/{principal_id}/credentials",
    status_code=201,
    summary="Add or reset a service principal's secret",
)
async def add_secret(
    request: Request, principal_id: str, body: SecretAdd, caller: AdminCaller
) -> Password:
    """Add a secret (`reset: true` removes the others first); its value, shown only here."""
    info = await service_of(request).principals.add_secret(
        principal_id, body.expiration_in_days, reset=body.reset
    )
    return Password.of(info)


@router.get("/role-assignments", summary="List role assignments everywhere")
async def list_all_assignments(
    request: Request, caller: AdminCaller, assignee: Assignee = None
) -> list[RoleAssignment]:
    """Role assignments in every registry, optionally of one assignee."""
    views = await service_of(request).principals.assignments(None, assignee)
    return [RoleAssignment.of(view) for view in views]


@router.get("/registries/{name}/role-assignments", summary="List role assignments")
async def list_assignments(
    request: Request, name: str, caller: OwnerCaller, assignee: Assignee = None
) -> list[RoleAssignment]:
    """The registry's role assignments, optionally of one assignee."""
    views = await service_of(request).principals.assignments(name, assignee)
    return [RoleAssignment.of(view) for view in views]


@router.post("/registries/{name}/role-assignments", status_code=201, summary="Assign a role")
async def create_assignment(
    request: Request, name: str, body: RoleAssignmentCreate, caller: OwnerCaller
) -> RoleAssignment:
    """Give a service principal, federated subject or group a role (AcrPull, AcrPush,
    AcrDelete, Reader, Contributor, Owner) over `*`, a repository or `prefix/*`. A subject or
    group names its trusted `issuer` (default: the only trusted issuer, if one is)."""
    view = await service_of(request).principals.assign(
        name, body.role, body.assignee, body.assignee_type, body.repositories, body.issuer
    )
    return RoleAssignment.of(view)


@router.delete(
    "/registries/{name}/role-assignments/{assignment_id}",
    status_code=204,
    summary="Remove a role assignment",
)
async def delete_assignment(
    request: Request, name: str, assignment_id: AssignmentId, caller: OwnerCaller
) -> Response:
    """Remove one role assignment of the registry."""
    await service_of(request).principals.unassign(name, assignment_id)
    return Response(status_code=204)


@router.post("/signing-keys/rotate", summary="Rotate the token-signing key")
async def rotate_signing_key(
    request: Request, caller: AdminCaller, body: KeyRotate | None = None
) -> SigningKey:
    """Sign tokens with a new key from now on; tokens signed before keep verifying."""
    kid = await service_of(request).rotate_signing_key(body.algorithm if body else None)
    return SigningKey(kid=kid)


@router.delete("/signing-keys/{kid}", status_code=204, summary="Retire a signing key")
async def retire_signing_key(request: Request, kid: Kid, caller: AdminCaller) -> Response:
    """Remove a key that no longer signs (rotate first): tokens it signed stop working on every
    node at once."""
    await service_of(request).retire_signing_key(kid)
    return Response(status_code=204)
