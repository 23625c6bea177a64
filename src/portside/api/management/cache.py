"""Routes: a registry's cache rules (`az acr cache`)."""

from __future__ import annotations

from fastapi import Request, Response

from portside.api.management.cache_models import CacheRule, CacheRuleCreate, CacheRuleUpdate
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import ContributorCaller
from portside.services.imports.cache_rules import CacheRuleService

__all__ = ["cache_rules_of", "router"]

router = ManagementRouter(tag="cache rules")

_ALL = "/registries/{name}/cacheRules"
_ONE = "/registries/{name}/cacheRules/{rule}"


def cache_rules_of(request: Request) -> CacheRuleService:
    """The cache rule service the app was built with."""
    service = request.app.state.cache_rules
    assert isinstance(service, CacheRuleService)
    return service


@router.get(_ALL, summary="List cache rules")
async def list_cache_rules(
    request: Request, name: str, caller: ContributorCaller
) -> list[CacheRule]:
    """The registry's cache rules, by name."""
    return [CacheRule.of(record) for record in await cache_rules_of(request).list(name)]


@router.post(_ALL, status_code=201, summary="Create a cache rule")
async def create_cache_rule(
    request: Request, name: str, body: CacheRuleCreate, caller: ContributorCaller
) -> CacheRule:
    """Serve the target repositories from the source's upstream on first pull."""
    return CacheRule.of(await cache_rules_of(request).create(name, body.name, body.spec()))


@router.get(_ONE, summary="Show a cache rule")
async def show_cache_rule(
    request: Request, name: str, rule: str, caller: ContributorCaller
) -> CacheRule:
    """One cache rule."""
    return CacheRule.of(await cache_rules_of(request).show(name, rule))


@router.patch(_ONE, summary="Update a cache rule")
async def update_cache_rule(
    request: Request, name: str, rule: str, body: CacheRuleUpdate, caller: ContributorCaller
) -> CacheRule:
    """Change the credential set, the TTL or whether pushes are allowed."""
    return CacheRule.of(await cache_rules_of(request).update(name, rule, body.spec()))


@router.delete(_ONE, status_code=204, summary="Delete a cache rule")
async def delete_cache_rule(
    request: Request, name: str, rule: str, caller: ContributorCaller
) -> Response:
    """Remove the rule; what it cached stays."""
    await cache_rules_of(request).delete(name, rule)
    return Response(status_code=204)
