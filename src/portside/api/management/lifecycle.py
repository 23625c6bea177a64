"""Routes: lifecycle policies, keep-last-N retention rules, the recycle bin, purge.

They call the LifecycleService `create_management_app` was given (from the composition root,
portside/runtime). Every route needs Contributor on the registry.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse

from portside.api.management.lifecycle_models import (
    DeletedManifestModel,
    DeletedRepositoryModel,
    DeletedTagModel,
    Policies,
    PurgeBody,
    PurgeItem,
    RestoreBody,
    RestoreResult,
    RetentionRuleCreate,
    RetentionRuleModel,
)
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import ContributorCaller
from portside.services.lifecycle.purge import PurgeRequest
from portside.services.lifecycle.service import LifecycleService

__all__ = ["lifecycle_of", "router"]

router = ManagementRouter(tag="lifecycle")

Repository = Annotated[str, Query(min_length=1, max_length=255, description="Repository name.")]


def lifecycle_of(request: Request) -> LifecycleService:
    """The lifecycle service the management app was built with."""
    return cast(LifecycleService, request.app.state.lifecycle)


def _policies(found: Policies) -> Response:
    # Not through the router's exclude-none answers: `null` says the policy is off.
    return JSONResponse(found.model_dump(mode="json", by_alias=True))


@router.get(
    "/registries/{name}/policies", summary="Show lifecycle policies", response_model=Policies
)
async def show_policies(request: Request, name: str, caller: ContributorCaller) -> Response:
    """Untagged retention, soft delete (the recycle bin) and orphan referrers."""
    return _policies(Policies.of(await lifecycle_of(request).policy(name)))


@router.put(
    "/registries/{name}/policies", summary="Set lifecycle policies", response_model=Policies
)
async def set_policies(
    request: Request, name: str, body: Policies, caller: ContributorCaller
) -> Response:
    """Replace the policies (fields left out are off); days out of range are refused."""
    return _policies(Policies.of(await lifecycle_of(request).update_policy(name, body.policy())))


@router.get("/registries/{name}/retention-rules", summary="List retention rules")
async def list_rules(
    request: Request, name: str, caller: ContributorCaller
) -> list[RetentionRuleModel]:
    """The registry's keep-last-N rules."""
    return [RetentionRuleModel.of(r) for r in await lifecycle_of(request).rules(name)]


@router.post("/registries/{name}/retention-rules", status_code=201, summary="Add a retention rule")
async def create_rule(
    request: Request, name: str, body: RetentionRuleCreate, caller: ContributorCaller
) -> RetentionRuleModel:
    """Keep the newest `keepLast` tags matching `tagFilter` in the matching repositories; the
    lifecycle job deletes the older ones."""
    rule = await lifecycle_of(request).add_rule(
        name, body.repositories, body.tag_filter, body.keep_last
    )
    return RetentionRuleModel.of(rule)


@router.delete(
    "/registries/{name}/retention-rules/{rule_id}", status_code=204, summary="Delete a rule"
)
async def delete_rule(
    request: Request, name: str, rule_id: int, caller: ContributorCaller
) -> Response:
    """Remove a keep-last-N rule."""
    await lifecycle_of(request).delete_rule(name, rule_id)
    return Response(status_code=204)


@router.get("/registries/{name}/deleted-repositories", summary="List deleted repositories")
async def list_deleted_repositories(
    request: Request,
    name: str,
    caller: ContributorCaller,
    include_live: Annotated[
        bool, Query(alias="all", description="Also repositories that exist again.")
    ] = False,
) -> list[DeletedRepositoryModel]:
    """Repositories that were deleted and have manifests in the recycle bin."""
    found = await lifecycle_of(request).deleted_repositories(name, include_live=include_live)
    return [DeletedRepositoryModel.of(r) for r in found]


@router.get("/registries/{name}/deleted-manifests", summary="List deleted manifests")
async def list_deleted_manifests(
    request: Request, name: str, repository: Repository, caller: ContributorCaller
) -> list[DeletedManifestModel]:
    """A repository's manifests in the recycle bin, most recently deleted first."""
    found = await lifecycle_of(request).deleted_manifests(name, repository)
    return [DeletedManifestModel.of(m) for m in found]


@router.get("/registries/{name}/deleted-tags", summary="List deleted tags")
async def list_deleted_tags(
    request: Request, name: str, repository: Repository, caller: ContributorCaller
) -> list[DeletedTagModel]:
    """A repository's tags deleted alone, most recently deleted first."""
    found = await lifecycle_of(request).deleted_tags(name, repository)
    return [DeletedTagModel.of(t) for t in found]


@router.post("/registries/{name}/deleted-manifests/restore", summary="Restore a manifest")
async def restore_manifest(
    request: Request, name: str, body: RestoreBody, caller: ContributorCaller
) -> RestoreResult:
    """Bring a manifest back from the recycle bin (the repository is created again if
    needed) with the tags asked for, or those it had; a taken tag is reported, not moved."""
    restored = await lifecycle_of(request).restore(name, body.repository, body.digest, body.tags)
    return RestoreResult.of(body.repository, restored)


@router.post("/registries/{name}/purge", summary="Purge tags and untagged manifests")
async def purge(
    request: Request, name: str, body: PurgeBody, caller: ContributorCaller
) -> list[PurgeItem]:
    """Delete the tags matching `filters` (`repo-regex:tag-regex`) last updated more than
    `ago` ago, keeping the newest `keep`, and with `untagged` the untagged manifests, as acr
    purge does; `dryRun` changes nothing. Locked items are skipped and reported."""
    result = await lifecycle_of(request).purge(
        name,
        PurgeRequest(
            filters=body.filters,
            ago=body.ago,
            keep=body.keep,
            untagged=body.untagged,
            dry_run=body.dry_run,
        ),
    )
    return [PurgeItem.of(item, result.dry_run) for item in result.items]
