"""Routes: the audit log of a registry (its Contributors and Owners, and the deployment
administrator), and the whole deployment's (the administrator only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from portside.api.management.audit_models import AuditEntryModel, AuditPageModel
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import AdminCaller, ContributorCaller, service_of
from portside.metadata.audit import AuditFilter
from portside.metadata.clock import utcnow
from portside.services.events.audit import MAX_PAGE, AuditLog, AuditPage, parse_since

__all__ = ["audit_of", "router"]

router = ManagementRouter(tag="audit")

Since = Annotated[
    str | None,
    Query(description="Records from this time on (ISO 8601) or this long ago (30m, 12h, 7d)."),
]
Identity = Annotated[
    str | None,
    Query(max_length=300, description="Only this identity (its id, or kind:id), or kind:."),
]
Action = Annotated[
    str | None,
    Query(max_length=64, description="Only this action (manifest.push) or family (manifest)."),
]
Top = Annotated[int, Query(alias="n", ge=1, le=MAX_PAGE, description="Records per page.")]
Last = Annotated[
    int | None,
    Query(ge=1, le=(1 << 63) - 1, description="Continue after this record (nextLink)."),
]


def audit_of(request: Request) -> AuditLog:
    """The audit log the app was built with."""
    audit = request.app.state.audit
    assert isinstance(audit, AuditLog)
    return audit


def _filter(since: str | None, identity: str | None, action: str | None) -> AuditFilter:
    when = None if since is None else parse_since(since, utcnow())
    return AuditFilter(since=when, identity=identity or None, action=action or None)


def _answer(request: Request, page: AuditPage) -> AuditPageModel:
    following = None
    if page.next is not None:
        url = request.url.include_query_params(last=page.next)
        following = f"{url.path}?{url.query}"
    return AuditPageModel(
        value=[AuditEntryModel.of(record) for record in page.records], next_link=following
    )


@router.get("/registries/{name}/audit", summary="List a registry's audit log")
async def list_registry_audit(
    request: Request,
    name: str,
    caller: ContributorCaller,
    since: Since = None,
    identity: Identity = None,
    action: Action = None,
    n: Top = 100,
    last: Last = None,
) -> AuditPageModel:
    """Changes, logins and refused logins in the registry, newest first."""
    registry = (await service_of(request).registries.show(name)).record
    found = _filter(since, identity, action)
    page = await audit_of(request).registry_page(registry.uid, found, last=last, limit=n)
    return _answer(request, page)


@router.get("/audit", summary="List the deployment's audit log")
async def list_deployment_audit(
    request: Request,
    caller: AdminCaller,
    registry: Annotated[str | None, Query(max_length=64, description="Only this name.")] = None,
    since: Since = None,
    identity: Identity = None,
    action: Action = None,
    n: Top = 100,
    last: Last = None,
) -> AuditPageModel:
    """Every registry's records and the deployment's own (service principals, issuers,
    registries created or deleted), newest first."""
    found = _filter(since, identity, action)
    page = await audit_of(request).deployment_page(found, registry=registry, last=last, limit=n)
    return _answer(request, page)
