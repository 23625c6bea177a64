"""Routes: trusted OIDC issuers (deployment administrator only), and their bodies.

Issuers of the configuration file are listed read-only (`source: config`); those created here
are stored and trusted by every node from its next exchange on. Keys are given as a JWKS URL
or as the JWKS document itself (`jwks`): a JWKS file is a server path, for the file only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from fastapi import Request, Response
from pydantic import Field

from portside.api.management.models import ApiModel
from portside.api.management.routing import ManagementRouter
from portside.api.management.security import AdminCaller, service_of
from portside.services.management.issuers import IssuerChanges, IssuerView

__all__ = ["TrustedIssuer", "TrustedIssuerCreate", "TrustedIssuerUpdate", "router"]

router = ManagementRouter(tag="trusted issuers")

IssuerName = Annotated[str, PathParam(min_length=1, max_length=64)]
_Text = Field(min_length=1, max_length=255)
_Url = Field(None, min_length=1, max_length=2048)
_Claim = Field("groups", min_length=1, max_length=128)


class TrustedIssuerCreate(ApiModel):
    """POST /trusted-issuers: exactly one of `jwksUrl` and `jwks`."""

    name: str = Field(min_length=1, max_length=64)
    issuer: str = _Text
    audience: str = _Text
    jwks_url: str | None = _Url
    jwks: dict[str, Any] | None = None
    groups_claim: str = _Claim
    tenant: str | None = Field(None, min_length=1, max_length=255)
    # Portal sign-in: the client id registered at the issuer, and its secret (write-only).
    portal_client_id: str | None = Field(None, min_length=1, max_length=255)
    portal_client_secret: str | None = Field(None, min_length=1, max_length=1024)


class TrustedIssuerUpdate(ApiModel):
    """PATCH /trusted-issuers/{name}: the fields given change (`tenant: null` unbinds it);
    `jwksUrl` or `jwks` replaces whichever was set."""

    audience: str | None = Field(None, min_length=1, max_length=255)
    jwks_url: str | None = _Url
    jwks: dict[str, Any] | None = None
    groups_claim: str | None = Field(None, min_length=1, max_length=128)
    tenant: str | None = Field(None, max_length=255)
    portal_client_id: str | None = Field(None, max_length=255)
    portal_client_secret: str | None = Field(None, max_length=1024)


class TrustedIssuer(ApiModel):
    """A trusted issuer; `source` is `config` (read-only, from the file) or `api`."""

    name: str
    source: Literal["config", "api"]
    issuer: str
    audience: str
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_file: str | None = None
    groups_claim: str
    tenant: str | None = None
    creation_date: datetime | None = None
    last_update_date: datetime | None = None
    portal_client_id: str | None = None
    # The secret itself is never shown again: only whether one is stored.
    portal_client_secret_set: bool = False

    @classmethod
    def of(cls, view: IssuerView) -> TrustedIssuer:
        """From the service's view of an issuer."""
        return cls.from_record(
            view,
            creation_date=view.created_at,
            last_update_date=view.updated_at,
            portal_client_secret_set=view.portal_secret_set,
        )


@router.get("/trusted-issuers", summary="List trusted issuers")
async def list_issuers(request: Request, caller: AdminCaller) -> list[TrustedIssuer]:
    """Every trusted issuer: the configuration file's, then those created here."""
    return [TrustedIssuer.of(view) for view in await service_of(request).issuers.list()]


@router.post("/trusted-issuers", status_code=201, summary="Trust an issuer")
async def create_issuer(
    request: Request, body: TrustedIssuerCreate, caller: AdminCaller
) -> TrustedIssuer:
    """Trust an OIDC issuer for `/oauth2/exchange`, on every node, without a restart."""
    view = await service_of(request).issuers.create(
        body.name,
        body.issuer,
        body.audience,
        jwks_url=body.jwks_url,
        jwks=body.jwks,
        groups_claim=body.groups_claim,
        tenant=body.tenant,
        portal_client_id=body.portal_client_id,
        portal_client_secret=body.portal_client_secret,
    )
    return TrustedIssuer.of(view)


@router.get("/trusted-issuers/{name}", summary="Show a trusted issuer")
async def show_issuer(request: Request, name: IssuerName, caller: AdminCaller) -> TrustedIssuer:
    """One trusted issuer."""
    return TrustedIssuer.of(await service_of(request).issuers.show(name))


@router.patch("/trusted-issuers/{name}", summary="Change a trusted issuer")
async def update_issuer(
    request: Request, name: IssuerName, body: TrustedIssuerUpdate, caller: AdminCaller
) -> TrustedIssuer:
    """Change an issuer created here (its name and `issuer` stay); sessions opened before run
    to their end. `portalClientId: null` stops offering it for portal sign-in."""
    changes = IssuerChanges(fields=frozenset(body.model_fields_set), **body.model_dump())
    return TrustedIssuer.of(await service_of(request).issuers.update(name, changes))


@router.delete("/trusted-issuers/{name}", status_code=204, summary="Stop trusting an issuer")
async def delete_issuer(request: Request, name: IssuerName, caller: AdminCaller) -> Response:
    """Remove an issuer created here: its sessions end on every node (refresh tokens at their
    next use, access tokens at once)."""
    await service_of(request).issuers.delete(name)
    return Response(status_code=204)
