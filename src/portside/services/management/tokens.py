"""Managing tokens: repository-scoped user names bound to a scope map, as ACR's tokens.

A token has two passwords (`password1`, `password2`), stored as hashes only; creating a token
generates both (unless asked not to) and `generate_password` replaces one. Their values are
returned once, by the call that generated them. A registry holds at most its `tokens` quota of
tokens (and a token made with repositories needs room for its new scope map too): one more is
refused with QuotaReached.
"""

from __future__ import annotations

import builtins
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from portside.metadata.errors import ScopeMapUnknown
from portside.metadata.records import RegistryRecord, TokenRecord
from portside.services.management.context import (
    ManagementContext,
    SecretInfo,
    expiry_after,
    lookable,
)
from portside.services.management.errors import Conflict, Invalid, NotFound, QuotaReached
from portside.services.management.scope_maps import normalize_actions, repository_actions

__all__ = ["TOKEN_PASSWORDS", "TokenManagement", "TokenView", "validate_token_name"]

TOKEN_PASSWORDS = ("password1", "password2")
"""A token's two passwords."""

STATUSES = ("enabled", "disabled")

_NAME = re.compile(r"[A-Za-z0-9-]{5,50}")


def validate_token_name(name: str, registry: str) -> str:
    """`name` if it may name a token of `registry`; Invalid saying why otherwise.

    Tokens share the Basic-auth user-name space with the admin user (the registry's name),
    service principals (UUIDs) and refresh-token logins (the null GUID).
    """
    if not _NAME.fullmatch(name):
        raise Invalid(f"invalid token name {name[:60]!r}: use 5-50 letters, digits and hyphens")
    try:
        uuid.UUID(name)
    except ValueError:
        pass
    else:
        raise Invalid("a token name may not be a UUID (those name service principals)")
    if name.lower() == registry.lower():
        raise Invalid("a token name may not be the registry's name (the admin user's name)")
    return name


def _status(status: str) -> bool:
    if status not in STATUSES:
        raise Invalid("status must be 'enabled' or 'disabled'")
    return status == "enabled"


@dataclass(frozen=True, slots=True)
class TokenView:
    """A token and its passwords (values only in the answer that generated them)."""

    record: TokenRecord
    passwords: tuple[SecretInfo, ...]


class TokenManagement:
    """The tokens of registries."""

    def __init__(self, context: ManagementContext) -> None:
        """Build over the shared management context."""
        self._context = context
        self._stores = context.stores

    async def create(
        self,
        registry: str,
        name: str,
        *,
        scope_map: str | None = None,
        repositories: Sequence[tuple[str, Sequence[str]]] = (),
        status: str = "enabled",
        expiry_days: int | None = None,
        passwords: bool = True,
    ) -> TokenView:
        """Add a token bound to `scope_map`, or to a new `<name>-scope-map` made of
        `repositories` (`[(repository, ["content/read", ...]), ...]`, as `az acr token create
        --repository`). Generates both passwords unless `passwords` is False.
        """
        record = await self._context.registry(registry)
        validate_token_name(name, record.name)
        enabled = _status(status)
        expires_at = expiry_after(expiry_days)
        if (scope_map is None) == (not repositories):
            raise Invalid("give a scope map or repositories with actions (one of the two)")
        if await self._stores.tokens.get(record.id, name) is not None:
            raise Conflict(f"token {name!r} already exists in {record.name!r}")
        await self._context.require_room(record, "tokens")
        if scope_map is None:
            await self._context.require_room(record, "scope_maps")
        created_map: str | None = None
        if scope_map is None:
            actions = normalize_actions(
                a for repo, verbs in repositories for a in repository_actions(repo, verbs)
            )
            created_map = f"{name}-scope-map"
            description = f"Created for token {name}"
            made = await self._stores.scope_maps.create(
                record.id, created_map, actions, description
            )
            if made is None:
                raise Conflict(f"scope map {created_map!r} already exists in {record.name!r}")
        token = await self._create(record, name, scope_map or created_map or "", enabled)
        if token is None:
            if created_map is not None:
                await self._stores.scope_maps.delete(record.id, created_map)
            raise Conflict(f"token {name!r} already exists in {record.name!r}")
        await self._recheck(record, name, created_map)
        issued: tuple[SecretInfo, ...] = ()
        if passwords:
            issued = tuple(
                [await self._password(record, token, p, expires_at) for p in TOKEN_PASSWORDS]
            )
        return TokenView(token, issued)

    async def list(self, registry: str) -> builtins.list[TokenView]:
        """The registry's tokens, by name, with their passwords' names and times."""
        record = await self._context.registry(registry)
        return [
            TokenView(token, await self._context.secrets_of("token", str(token.id)))
            for token in await self._stores.tokens.list(record.id)
        ]

    async def show(self, registry: str, name: str) -> TokenView:
        """One token; NotFound if it does not exist."""
        record = await self._context.registry(registry)
        token = await self._get(record, name)
        return TokenView(token, await self._context.secrets_of("token", str(token.id)))

    async def update(
        self, registry: str, name: str, *, scope_map: str | None = None, status: str | None = None
    ) -> TokenView:
        """Rebind a token to another scope map and/or enable or disable it."""
        record = await self._context.registry(registry)
        enabled = None if status is None else _status(status)
        await self._get(record, name)
        if scope_map is not None and not lookable(scope_map):
            raise NotFound(f"scope map {scope_map[:64]!r} does not exist in {record.name!r}")
        try:
            token = await self._stores.tokens.update(
                record.id, name, scope_map=scope_map, enabled=enabled
            )
        except ScopeMapUnknown:
            raise NotFound(f"scope map {scope_map!r} does not exist in {record.name!r}") from None
        if token is None:
            raise NotFound(f"token {name!r} does not exist in {record.name!r}")
        return TokenView(token, await self._context.secrets_of("token", str(token.id)))

    async def delete(self, registry: str, name: str) -> None:
        """Remove a token and its passwords (a scope map made for it stays, as in ACR)."""
        record = await self._context.registry(registry)
        if not await self._stores.tokens.delete(record.id, name):
            raise NotFound(f"token {name[:64]!r} does not exist in {record.name!r}")

    async def generate_password(
        self, registry: str, name: str, password_name: str, expiry_days: int | None = None
    ) -> SecretInfo:
        """Replace one password (`password1` or `password2`); its new value, once."""
        if password_name not in TOKEN_PASSWORDS:
            raise Invalid(f"password name must be one of {', '.join(TOKEN_PASSWORDS)}")
        expires_at = expiry_after(expiry_days)
        record = await self._context.registry(registry)
        token = await self._get(record, name)
        return await self._password(record, token, password_name, expires_at)

    async def delete_password(self, registry: str, name: str, password_name: str) -> None:
        """Remove one password of a token; NotFound if it has none of that name."""
        record = await self._context.registry(registry)
        token = await self._get(record, name)
        if password_name not in TOKEN_PASSWORDS:
            raise NotFound(f"a token's passwords are {', '.join(TOKEN_PASSWORDS)}")
        removed = await self._stores.credentials.remove(
            "token", str(token.id), password_name, registry_id=record.id
        )
        if not removed:
            raise NotFound(f"token {name!r} has no {password_name[:20]!r}")

    async def _create(
        self, record: RegistryRecord, name: str, scope_map: str, enabled: bool
    ) -> TokenRecord | None:
        if not lookable(scope_map):
            raise NotFound(f"scope map {scope_map[:64]!r} does not exist in {record.name!r}")
        try:
            return await self._stores.tokens.create(record.id, name, scope_map, enabled=enabled)
        except ScopeMapUnknown:
            raise NotFound(f"scope map {scope_map!r} does not exist in {record.name!r}") from None

    async def _recheck(self, record: RegistryRecord, name: str, created_map: str | None) -> None:
        """Undo a creation that a concurrent one pushed past a quota (before any password)."""
        try:
            await self._context.require_room(record, "tokens", adding=0)
            if created_map is not None:
                await self._context.require_room(record, "scope_maps", adding=0)
        except QuotaReached:
            await self._stores.tokens.delete(record.id, name)
            if created_map is not None:
                await self._stores.scope_maps.delete(record.id, created_map)
            raise

    async def _get(self, record: RegistryRecord, name: str) -> TokenRecord:
        token = await self._stores.tokens.get(record.id, name) if lookable(name) else None
        if token is None:
            raise NotFound(f"token {name[:64]!r} does not exist in {record.name!r}")
        return token

    async def _password(
        self,
        record: RegistryRecord,
        token: TokenRecord,
        password_name: str,
        expires_at: datetime | None,
    ) -> SecretInfo:
        return await self._context.issue_secret(
            "token", str(token.id), password_name, expires_at=expires_at, registry_id=record.id
        )
