"""Routes: tokens (repository-scoped user names) and the scope maps they are bound to."""

from __future__ import annotations

from fastapi import Request, Response

from portside.api.management.models import (
    Password,
    ScopeMap,
    ScopeMapCreate,
    ScopeMapUpdate,
    Token,
    TokenCreate,
    TokenPasswordGenerate,
    TokenUpdate,
)
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import ContributorCaller, service_of

__all__ = ["router"]

router = ManagementRouter(tag="tokens and scope maps")


@router.get("/registries/{name}/tokens", summary="List tokens")
async def list_tokens(request: Request, name: str, caller: ContributorCaller) -> list[Token]:
    """The registry's tokens with their passwords' names and times (never values)."""
    return [Token.of(view) for view in await service_of(request).tokens.list(name)]


@router.post("/registries/{name}/tokens", status_code=201, summary="Create a token")
async def create_token(
    request: Request, name: str, body: TokenCreate, caller: ContributorCaller
) -> Token:
    """Create a token bound to `scopeMap`, or to a new `<token>-scope-map` made from
    `repositories`. Both passwords are generated (unless `noPasswords`) and returned once."""
    view = await service_of(request).tokens.create(
        name,
        body.name,
        scope_map=body.scope_map,
        repositories=[(entry.repository, entry.actions) for entry in body.repositories],
        status=body.status,
        expiry_days=body.expiration_in_days,
        passwords=not body.no_passwords,
    )
    return Token.of(view)


@router.get("/registries/{name}/tokens/{token}", summary="Show a token")
async def show_token(request: Request, name: str, token: str, caller: ContributorCaller) -> Token:
    """One token."""
    return Token.of(await service_of(request).tokens.show(name, token))


@router.patch("/registries/{name}/tokens/{token}", summary="Update a token")
async def update_token(
    request: Request, name: str, token: str, body: TokenUpdate, caller: ContributorCaller
) -> Token:
    """Rebind a token to another scope map and/or enable or disable it."""
    view = await service_of(request).tokens.update(
        name, token, scope_map=body.scope_map, status=body.status
    )
    return Token.of(view)


@router.delete("/registries/{name}/tokens/{token}", status_code=204, summary="Delete a token")
async def delete_token(
    request: Request, name: str, token: str, caller: ContributorCaller
) -> Response:
    """Remove a token and its passwords."""
    await service_of(request).tokens.delete(name, token)
    return Response(status_code=204)


@router.post("/registries/{name}/tokens/{token}/credentials", summary="Generate a token password")
async def generate_token_password(
    request: Request, name: str, token: str, body: TokenPasswordGenerate, caller: ContributorCaller
) -> Password:
    """Replace `password1` or `password2` of a token; the answer carries the value, once."""
    info = await service_of(request).tokens.generate_password(
        name, token, body.name, body.expiration_in_days
    )
    return Password.of(info)


@router.delete(
    "/registries/{name}/tokens/{token}/credentials/{password}",
    status_code=204,
    summary="Delete a token password",
)
async def delete_token_password(
    request: Request, name: str, token: str, password: str, caller: ContributorCaller
) -> Response:
    """Remove `password1` or `password2` of a token."""
    await service_of(request).tokens.delete_password(name, token, password)
    return Response(status_code=204)


@router.get("/registries/{name}/scope-maps", summary="List scope maps")
async def list_scope_maps(request: Request, name: str, caller: ContributorCaller) -> list[ScopeMap]:
    """The registry's scope maps, the three system maps included."""
    return [ScopeMap.of(record) for record in await service_of(request).scope_maps.list(name)]


@router.post("/registries/{name}/scope-maps", status_code=201, summary="Create a scope map")
async def create_scope_map(
    request: Request, name: str, body: ScopeMapCreate, caller: ContributorCaller
) -> ScopeMap:
    """Create a scope map of ACR actions (`repositories/<repo or prefix/*>/content/read`)."""
    record = await service_of(request).scope_maps.create(
        name, body.name, body.actions, body.description
    )
    return ScopeMap.of(record)


@router.get("/registries/{name}/scope-maps/{scope_map}", summary="Show a scope map")
async def show_scope_map(
    request: Request, name: str, scope_map: str, caller: ContributorCaller
) -> ScopeMap:
    """One scope map."""
    return ScopeMap.of(await service_of(request).scope_maps.show(name, scope_map))


@router.patch("/registries/{name}/scope-maps/{scope_map}", summary="Update a scope map")
async def update_scope_map(
    request: Request, name: str, scope_map: str, body: ScopeMapUpdate, caller: ContributorCaller
) -> ScopeMap:
    """Add and remove actions, change the description (system maps cannot be changed)."""
    record = await service_of(request).scope_maps.update(
        name,
        scope_map,
        add_actions=body.add_actions,
        remove_actions=body.remove_actions,
        description=body.description,
    )
    return ScopeMap.of(record)


@router.delete(
    "/registries/{name}/scope-maps/{scope_map}", status_code=204, summary="Delete a scope map"
)
async def delete_scope_map(
    request: Request, name: str, scope_map: str, caller: ContributorCaller
) -> Response:
    """Remove a scope map no token uses (system maps cannot be deleted)."""
    await service_of(request).scope_maps.delete(name, scope_map)
    return Response(status_code=204)
