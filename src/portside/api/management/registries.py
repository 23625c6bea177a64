"""Routes: registries, their admin-user credentials, repository settings and `login`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam
from fastapi import Request, Response

from portside.api.management.models import (
    LoginResult,
    PasswordRenew,
    Registry,
    RegistryCreate,
    RegistryCredentials,
    RegistryUpdate,
    Repository,
    RepositoryUpdate,
)
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import (
    AdminCaller,
    AnyCaller,
    ContributorCaller,
    host_of,
    service_of,
)

__all__ = ["router"]

router = ManagementRouter(tag="registries")


@router.get("/registries", summary="List registries")
async def list_registries(request: Request, caller: AnyCaller) -> list[Registry]:
    """Every registry (for a service principal: those it may manage)."""
    service = service_of(request)
    views = await service.registries.list(host_of(request))
    if not caller.is_admin:
        views = [v for v in views if await service.auth.roles_in(caller, v.record)]
    return [Registry.of(view) for view in views]


@router.post("/registries", status_code=201, summary="Create a registry")
async def create_registry(request: Request, body: RegistryCreate, caller: AdminCaller) -> Registry:
    """Create a registry with its system scope maps. With `adminUserEnabled`, the answer
    carries the admin user's two passwords: the only time they are shown."""
    view = await service_of(request).registries.create(
        body.name,
        sku=body.sku,
        admin_enabled=body.admin_user_enabled,
        anonymous_pull=body.anonymous_pull_enabled,
        immutable_tags=body.immutable_tags_enabled,
        host=host_of(request),
    )
    return Registry.of(view)


@router.get("/registries/{name}", summary="Show a registry")
async def show_registry(request: Request, name: str, caller: ContributorCaller) -> Registry:
    """One registry; `default: true` for the server's default registry."""
    return Registry.of(await service_of(request).registries.show(name, host_of(request)))


@router.patch("/registries/{name}", summary="Update a registry")
async def update_registry(
    request: Request, name: str, body: RegistryUpdate, caller: ContributorCaller
) -> Registry:
    """Change settings, quota and rate limit overrides (`null` resets one to the SKU's
    default; only the administrator may change quotas, rate limits and the SKU). Enabling an
    admin user that has no passwords yet generates both and returns them (once)."""
    view = await service_of(request).registries.update(
        name,
        caller=caller,
        sku=body.sku,
        admin_enabled=body.admin_user_enabled,
        anonymous_pull=body.anonymous_pull_enabled,
        immutable_tags=body.immutable_tags_enabled,
        quotas=body.quotas(),
        rates=body.rates(),
        host=host_of(request),
    )
    return Registry.of(view)


@router.delete("/registries/{name}", status_code=204, summary="Delete a registry")
async def delete_registry(request: Request, name: str, caller: AdminCaller) -> Response:
    """Remove a registry with everything in it (not the server's default registry)."""
    await service_of(request).registries.delete(name)
    return Response(status_code=204)


@router.get("/registries/{name}/credentials", summary="Show the admin user")
async def show_credentials(
    request: Request, name: str, caller: ContributorCaller
) -> RegistryCredentials:
    """The admin user's name and its passwords' names and times. Unlike ACR, no values:
    only argon2id hashes are stored."""
    return RegistryCredentials.of(await service_of(request).registries.credentials(name))


@router.post("/registries/{name}/credentials/renew", summary="Renew an admin password")
async def renew_credentials(
    request: Request, name: str, body: PasswordRenew, caller: ContributorCaller
) -> RegistryCredentials:
    """Replace `password` or `password2`; the answer carries the new value, once."""
    registries = service_of(request).registries
    renewed = await registries.renew_password(name, body.name)
    current = RegistryCredentials.of(await registries.credentials(name))
    for index, password in enumerate(current.passwords):
        if password.name == renewed.name:
            current.passwords[index] = password.model_copy(update={"value": renewed.value})
    return current


@router.patch("/registries/{name}/repositories/{repository:path}", summary="Update a repository")
async def update_repository(
    request: Request,
    name: str,
    body: RepositoryUpdate,
    repository: Annotated[str, PathParam(max_length=255)],
    caller: ContributorCaller,
) -> Repository:
    """Open or close one repository to anonymous pull."""
    service = service_of(request)
    await service.registries.set_repository_anonymous_pull(
        name, repository, body.anonymous_pull_enabled
    )
    registry = (await service.registries.show(name)).record.name
    return Repository(
        registry=registry, name=repository, anonymous_pull_enabled=body.anonymous_pull_enabled
    )


@router.post("/registries/{name}/login", summary="Get a refresh token for docker login")
async def login(request: Request, name: str, caller: ContributorCaller) -> LoginResult:
    """A refresh token for the caller in this registry (the administrator signs in as the
    deployment administrator, a service principal as itself), for
    `docker login <loginServer> -u 00000000-0000-0000-0000-000000000000 -p <refreshToken>`."""
    result = await service_of(request).login(name, caller, host_of(request))
    return LoginResult(login_server=result.login_server, refresh_token=result.refresh_token)
