"""`create_management_app`: the management API as a FastAPI application.

It is mounted at `/api/v1` on the main application; its OpenAPI document is then served at
`/api/v1/openapi.json` and the interactive documentation at `/api/v1/docs`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from portside.api.management import audit as audit_routes
from portside.api.management import (
    cache,
    credential_sets,
    identities,
    imports,
    issuers,
    lifecycle,
    registries,
    replications,
    tokens,
    usage,
    webhooks,
)
from portside.api.management.errors import exception_handlers
from portside.api.management.gate import RequestGate
from portside.runtime import Runtime
from portside.services.events.audit import AuditLog
from portside.services.events.webhooks import WebhookService
from portside.services.imports.cache_rules import CacheRuleService
from portside.services.imports.credential_sets import CredentialSetService
from portside.services.imports.imports import ImportService
from portside.services.lifecycle.service import LifecycleService
from portside.services.management.service import ManagementService
from portside.services.replication.service import ReplicationService

__all__ = ["create_management_app", "management_app_for"]

_DESCRIPTION = """\
Manage registries, their admin users, tokens, scope maps, service principals, role
assignments and trusted OIDC issuers, as Azure Container Registry's management plane does.

Authenticate with HTTP Basic: `admin` and the deployment administrator's password, or a
service principal's id and secret (it may manage registries where it holds Contributor or
Owner). Secret values appear only in the answers of the calls that generate them.
"""


def create_management_app(
    service: ManagementService,
    lifecycle_service: LifecycleService,
    webhooks_service: WebhookService,
    *,
    cache_rules: CacheRuleService | None = None,
    credential_sets_service: CredentialSetService | None = None,
    imports_service: ImportService | None = None,
    audit: AuditLog | None = None,
    replication_service: ReplicationService | None = None,
) -> FastAPI:
    """The management API over `service`, `lifecycle_service` and `webhooks_service`, all
    from the composition root (portside/runtime), built and closed by the caller."""
    app = FastAPI(
        title="Portside management API",
        version="1",
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.management = service
    app.state.lifecycle = lifecycle_service
    app.state.webhooks = webhooks_service
    app.state.cache_rules = cache_rules
    app.state.credential_sets = credential_sets_service
    app.state.imports = imports_service
    app.state.audit = audit
    app.state.replication = replication_service
    for error, handler in exception_handlers().items():
        app.add_exception_handler(error, handler)
    for module in (registries, usage, tokens, identities, issuers, lifecycle, webhooks):
        app.include_router(module.router)
    if cache_rules is not None:
        app.include_router(cache.router)
    if credential_sets_service is not None:
        app.include_router(credential_sets.router)
    if imports_service is not None:
        app.include_router(imports.router)
    if audit is not None:
        app.include_router(audit_routes.router)
    if replication_service is not None:
        app.include_router(replications.router)
    _without_validation_answers(app)
    # Credentials before any body byte, and bodies bounded: FastAPI itself reads a route's
    # body before its dependencies (the guards) run.
    app.add_middleware(RequestGate, auth=service.auth)
    return app


def management_app_for(runtime: Runtime) -> FastAPI:
    """The management API over every service of `runtime` (the server's and the tests')."""
    return create_management_app(
        runtime.management,
        runtime.lifecycle,
        runtime.webhooks,
        cache_rules=runtime.cache_rules,
        credential_sets_service=runtime.credential_sets,
        imports_service=runtime.imports,
        audit=runtime.audit,
        replication_service=runtime.replication,
    )


def _without_validation_answers(app: FastAPI) -> None:
    """Drop FastAPI's 422 answers from the OpenAPI document: validation errors are 400s here."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
