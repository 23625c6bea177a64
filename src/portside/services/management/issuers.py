"""Trusted OIDC issuers as the management API shows and changes them.

Issuers come from two places. Those of the configuration file (`[[portside.trusted_issuers]]`)
are read-only here: they are listed with `source: config` and named `config-1`, `config-2`...
in file order. Those created through the API are stored in the database, named by the caller,
and take effect on every node at the next exchange (services/access/issuers.py). A JWKS file is
a path on the server, so the API takes a JWKS URL or the JWKS document itself.

Removing an issuer ends its sessions: its refresh tokens are refused at their next use, and
every registry's auth version moves so that its access tokens are re-evaluated (and refused).
Role assignments that name it stay, matching nobody, until it is trusted again.

An issuer with a `portal_client_id` is offered on the portal's sign-in page (directory sign-in,
authorization code with PKCE: docs/portal.md). Its client secret, if the issuer wants one, is
sealed with the deployment key before it is stored (it must be sent to the issuer again, so a
hash would not do) and never shown again: views say only whether one is set.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from portside.auth.federation import TrustedIssuer, usable_keys
from portside.metadata.trusted_issuers import TrustedIssuerRecord
from portside.services.access.issuers import TrustedIssuers
from portside.services.management.context import check_text
from portside.services.management.errors import Conflict, Invalid, NotFound

__all__ = ["MAX_INLINE_JWKS", "IssuerChanges", "IssuerManagement", "IssuerView", "Sealer"]

Sealer = Callable[[str, str], Awaitable[tuple[str, bytes]]]
"""Seals a secret bound to a context: (key id, sealed bytes) (the runtime's SecretBox)."""

MAX_INLINE_JWKS = 64 * 1024
"""Largest JWKS document stored inline, as JSON text (a few keys take a few KiB)."""

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_CONFIG_PREFIX = "config-"


@dataclass(frozen=True, slots=True)
class IssuerView:
    """A trusted issuer as listed: where it comes from (`config` or `api`) and its settings."""

    name: str
    source: Literal["config", "api"]
    issuer: str
    audience: str
    jwks_url: str | None
    jwks: dict[str, object] | None
    jwks_file: str | None
    groups_claim: str
    tenant: str | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    portal_client_id: str | None = None
    portal_secret_set: bool = False


@dataclass(frozen=True, slots=True)
class IssuerChanges:
    """What an update changes: only the fields named in `fields` (None clears `tenant`)."""

    fields: frozenset[str]
    audience: str | None = None
    jwks_url: str | None = None
    jwks: Mapping[str, object] | None = None
    groups_claim: str | None = None
    tenant: str | None = None
    portal_client_id: str | None = None
    portal_client_secret: str | None = None


def _configured_view(number: int, trusted: TrustedIssuer) -> IssuerView:
    return IssuerView(
        name=f"{_CONFIG_PREFIX}{number}",
        source="config",
        issuer=trusted.issuer,
        audience=trusted.audience,
        jwks_url=trusted.jwks_url,
        jwks=None,
        jwks_file=None if trusted.jwks_file is None else str(trusted.jwks_file),
        groups_claim=trusted.groups_claim,
        tenant=trusted.tenant,
    )


def _stored_view(record: TrustedIssuerRecord) -> IssuerView:
    return IssuerView(
        name=record.name,
        source="api",
        issuer=record.issuer,
        audience=record.audience,
        jwks_url=record.jwks_url,
        jwks=None if record.jwks is None else json.loads(record.jwks),
        jwks_file=None,
        groups_claim=record.groups_claim,
        tenant=record.tenant,
        created_at=record.created_at,
        updated_at=record.updated_at,
        portal_client_id=record.portal_client_id,
        portal_secret_set=record.portal_secret_sealed is not None,
    )


def portal_secret_context(name: str, issuer: str) -> str:
    """What a portal client secret is sealed to: its issuer's row (copied elsewhere, it does
    not open)."""
    return f"trusted-issuer:{name}:{issuer}"


def _jwks_url(url: str) -> str:
    check_text(url, "jwksUrl", 2048, allow_empty=False)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise Invalid("jwksUrl must be an http or https URL")
    return url


def _jwks(document: Mapping[str, object]) -> str:
    """The JWKS document as stored (compact JSON); Invalid unless it holds a usable key."""
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    if len(text) > MAX_INLINE_JWKS:
        raise Invalid(f"jwks is larger than {MAX_INLINE_JWKS} bytes")
    try:
        usable = usable_keys(text)
    except ValueError:
        raise Invalid('jwks must be a JWK set: {"keys": [...]}') from None
    if not usable:
        raise Invalid("jwks holds no usable signing key (RSA, EC or OKP, use sig)")
    return text


class IssuerManagement:
    """Lists every trusted issuer; creates, changes and removes the stored ones."""

    def __init__(self, issuers: TrustedIssuers, seal: Sealer | None = None) -> None:
        """Work on the trusted issuers of the composition root (its store and configured ones);
        `seal` seals portal client secrets (without it, none can be stored)."""
        self._issuers = issuers
        self._store = issuers.store
        self._seal = seal

    async def list(self) -> builtins.list[IssuerView]:
        """The configured issuers (in file order), then the stored ones (by name)."""
        configured = [
            _configured_view(n, trusted) for n, trusted in enumerate(self._issuers.configured, 1)
        ]
        return configured + [_stored_view(record) for record in await self._store.list()]

    async def show(self, name: str) -> IssuerView:
        """One issuer by name; NotFound if none is called so."""
        for view in await self.list() if name.startswith(_CONFIG_PREFIX) else []:
            if view.name == name:
                return view
        return _stored_view(await self._get(name))

    async def create(
        self,
        name: str,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        jwks: Mapping[str, object] | None = None,
        groups_claim: str = "groups",
        tenant: str | None = None,
        portal_client_id: str | None = None,
        portal_client_secret: str | None = None,
    ) -> IssuerView:
        """Trust a new issuer, at once on every node; Conflict if its name or `iss` is taken.
        With `portal_client_id` (and its secret, if the issuer wants one) the portal offers
        sign-in with it."""
        if not _NAME.fullmatch(name) or name.startswith(_CONFIG_PREFIX):
            raise Invalid(
                "name must be 1 to 64 lowercase letters, digits and hyphens, starting with a "
                f"letter or digit, and not start with {_CONFIG_PREFIX!r}"
            )
        check_text(issuer, "issuer", 255, allow_empty=False)
        check_text(audience, "audience", 255, allow_empty=False)
        check_text(groups_claim, "groupsClaim", 128, allow_empty=False)
        if tenant is not None:
            check_text(tenant, "tenant", 255, allow_empty=False)
        if (jwks_url is None) == (jwks is None):
            raise Invalid("give exactly one of jwksUrl and jwks")
        url = None if jwks_url is None else _jwks_url(jwks_url)
        document = None if jwks is None else _jwks(jwks)
        if issuer in {trusted.issuer for trusted in self._issuers.configured}:
            raise Conflict(f"issuer {issuer[:80]!r} is trusted by the configuration file")
        portal = await self._portal_client(name, issuer, portal_client_id, portal_client_secret)
        record = await self._store.create(
            name,
            issuer,
            audience,
            jwks_url=url,
            jwks=document,
            groups_claim=groups_claim,
            tenant=tenant,
            portal=portal,
        )
        if record is None:
            raise Conflict(f"a trusted issuer named {name!r} or with this issuer exists already")
        return _stored_view(record)

    async def update(self, name: str, changes: IssuerChanges) -> IssuerView:
        """Change a stored issuer's audience, keys, groups claim or tenant (its `iss` and name
        stay); sessions opened before keep running to their end."""
        self._writable(name)
        values: dict[str, object] = {}
        given = changes.fields
        if "audience" in given:
            values["audience"] = check_text(
                changes.audience or "", "audience", 255, allow_empty=False
            )
        if "groups_claim" in given:
            claim = changes.groups_claim or ""
            values["groups_claim"] = check_text(claim, "groupsClaim", 128, allow_empty=False)
        if "tenant" in given:
            tenant = changes.tenant
            values["tenant"] = (
                None if tenant is None else check_text(tenant, "tenant", 255, allow_empty=False)
            )
        if "jwks_url" in given and "jwks" in given:
            raise Invalid("give at most one of jwksUrl and jwks")
        if "jwks_url" in given:
            values.update(jwks_url=_jwks_url(changes.jwks_url or ""), jwks=None)
        if "jwks" in given:
            if changes.jwks is None:
                raise Invalid("jwks must be a JWK set")
            values.update(jwks=_jwks(changes.jwks), jwks_url=None)
        if "portal_client_id" in given or "portal_client_secret" in given:
            values.update(await self._portal_changes(name, changes))
        if not values:
            return _stored_view(await self._get(name))
        record = await self._store.update(name, values)
        if record is None:
            raise NotFound(f"no trusted issuer named {name[:64]!r}")
        return _stored_view(record)

    async def delete(self, name: str) -> None:
        """Stop trusting a stored issuer: its sessions end on every node."""
        self._writable(name)
        if await self._store.delete(name) is None:
            raise NotFound(f"no trusted issuer named {name[:64]!r}")

    async def _portal_changes(self, name: str, changes: IssuerChanges) -> dict[str, object]:
        """The portal sign-in columns an update changes (a new client id alone keeps the
        secret already sealed; no client id drops the secret too)."""
        current = await self._get(name)
        given = changes.fields
        client_id = changes.portal_client_id
        if "portal_client_id" not in given:
            client_id = current.portal_client_id
        secret = changes.portal_client_secret
        portal = await self._portal_client(name, current.issuer, client_id, secret)
        if "portal_client_secret" not in given and client_id is not None:
            portal.pop("portal_secret_sealed")
            portal.pop("portal_secret_key")
        return portal

    async def _portal_client(
        self, name: str, issuer: str, client_id: str | None, secret: str | None
    ) -> dict[str, object]:
        """The portal sign-in columns for `client_id` and `secret` (the secret sealed)."""
        if client_id is None:
            if secret is not None:
                raise Invalid("portalClientSecret needs a portalClientId")
            return {
                "portal_client_id": None,
                "portal_secret_sealed": None,
                "portal_secret_key": None,
            }
        check_text(client_id, "portalClientId", 255, allow_empty=False)
        if secret is None:
            return {
                "portal_client_id": client_id,
                "portal_secret_sealed": None,
                "portal_secret_key": None,
            }
        check_text(secret, "portalClientSecret", 1024, allow_empty=False)
        if self._seal is None:
            raise Conflict("this server cannot seal secrets: no portal client secret is stored")
        kid, sealed = await self._seal(secret, portal_secret_context(name, issuer))
        return {
            "portal_client_id": client_id,
            "portal_secret_sealed": sealed,
            "portal_secret_key": kid,
        }

    def _writable(self, name: str) -> None:
        """Conflict for a configured issuer: the file is its one home."""
        configured = {f"{_CONFIG_PREFIX}{n}" for n in range(1, len(self._issuers.configured) + 1)}
        if name in configured:
            raise Conflict(
                f"{name!r} comes from the configuration file: change it there (and restart)"
            )

    async def _get(self, name: str) -> TrustedIssuerRecord:
        record = await self._store.get(name) if _NAME.fullmatch(name) else None
        if record is None:
            raise NotFound(f"no trusted issuer named {name[:64]!r}")
        return record
