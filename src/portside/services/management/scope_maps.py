"""Managing scope maps: named sets of ACR actions that tokens are bound to.

An action is `repositories/<repository, prefix/* or *>/<content|metadata>/<verb>`, as in ACR.
The three system maps (`_repositories_admin`, `_pull`, `_push`) exist in every registry and
cannot be changed or deleted; a map that tokens use cannot be deleted either. A registry holds
at most its `scope_maps` quota of user maps (system maps do not count): one more is refused
with QuotaReached.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Sequence

from portside.auth.permissions import SCOPE_MAP_ACTIONS, PatternError, parse_scope_map_action
from portside.metadata.errors import ScopeMapInUse
from portside.metadata.records import ScopeMapRecord
from portside.services.management.context import ManagementContext, check_text, lookable
from portside.services.management.errors import Conflict, Invalid, NotFound, QuotaReached

__all__ = [
    "MAX_ACTIONS",
    "ScopeMapManagement",
    "normalize_actions",
    "repository_actions",
    "validate_scope_map_name",
]

MAX_ACTIONS = 500
"""Most actions one scope map may hold."""

MAX_DESCRIPTION = 256
"""Longest scope-map description (ACR's limit)."""

# Letters, digits and hyphens; a leading underscore is kept for the system maps. Up to 60
# characters so that `<50-character token>-scope-map` fits.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{4,59}")


def validate_scope_map_name(name: str) -> str:
    """`name` if it is a valid user scope-map name; Invalid saying why otherwise."""
    if name.startswith("_"):
        raise Invalid("scope-map names starting with '_' are reserved for system scope maps")
    if not _NAME.fullmatch(name):
        raise Invalid(f"invalid scope-map name {name[:70]!r}: use 5-60 letters, digits and hyphens")
    return name


def normalize_actions(actions: Iterable[str]) -> builtins.list[str]:
    """The actions, each checked with `parse_scope_map_action`, duplicates dropped."""
    checked: dict[str, None] = {}
    for action in actions:
        try:
            parse_scope_map_action(action)
        except PatternError as error:
            raise Invalid(f"invalid scope-map action {action[:100]!r}: {error}") from None
        checked[action] = None
    if len(checked) > MAX_ACTIONS:
        raise Invalid(f"a scope map holds at most {MAX_ACTIONS} actions")
    return list(checked)


def repository_actions(repository: str, actions: Sequence[str]) -> builtins.list[str]:
    """`az acr ... --repository REPO content/read ...` as full actions; Invalid if malformed."""
    if not actions:
        raise Invalid(f"repository {repository[:100]!r} needs at least one action")
    unknown = [action for action in actions if action not in SCOPE_MAP_ACTIONS]
    if unknown:
        raise Invalid(f"unknown action {unknown[0][:40]!r}: use {', '.join(SCOPE_MAP_ACTIONS)}")
    return normalize_actions(f"repositories/{repository}/{action}" for action in actions)


class ScopeMapManagement:
    """The scope maps of registries."""

    def __init__(self, context: ManagementContext) -> None:
        """Build over the shared management context."""
        self._context = context
        self._store = context.stores.scope_maps

    async def create(
        self, registry: str, name: str, actions: Sequence[str], description: str = ""
    ) -> ScopeMapRecord:
        """Add a scope map; Invalid for a bad name or action, Conflict if the name is taken,
        QuotaReached if the registry has as many user scope maps as its quota allows."""
        record = await self._context.registry(registry)
        validate_scope_map_name(name)
        checked = normalize_actions(actions)
        check_text(description, "description", MAX_DESCRIPTION)
        await self._context.require_room(record, "scope_maps")
        created = await self._store.create(record.id, name, checked, description)
        if created is None:
            raise Conflict(f"scope map {name!r} already exists in {record.name!r}")
        try:
            # A concurrent creation may have taken the last place meanwhile.
            await self._context.require_room(record, "scope_maps", adding=0)
        except QuotaReached:
            await self._store.delete(record.id, name)
            raise
        return created

    async def list(self, registry: str) -> builtins.list[ScopeMapRecord]:
        """The registry's scope maps (system maps included), by name."""
        record = await self._context.registry(registry)
        return await self._store.list(record.id)

    async def show(self, registry: str, name: str) -> ScopeMapRecord:
        """One scope map; NotFound if it does not exist."""
        record = await self._context.registry(registry)
        found = await self._store.get(record.id, name) if lookable(name) else None
        if found is None:
            raise NotFound(f"scope map {name[:64]!r} does not exist in {record.name!r}")
        return found

    async def update(
        self,
        registry: str,
        name: str,
        *,
        add_actions: Sequence[str] = (),
        remove_actions: Sequence[str] = (),
        description: str | None = None,
    ) -> ScopeMapRecord:
        """Add and remove actions (removing one not held is a no-op), change the description."""
        current = await self.show(registry, name)
        if current.system:
            raise Invalid(f"{name!r} is a system scope map; it cannot be changed")
        added = normalize_actions(add_actions)
        removed = set(remove_actions)
        if description is not None:
            check_text(description, "description", MAX_DESCRIPTION)
        actions = [a for a in dict.fromkeys([*current.actions, *added]) if a not in removed]
        if len(actions) > MAX_ACTIONS:
            raise Invalid(f"a scope map holds at most {MAX_ACTIONS} actions")
        changed = added or removed
        updated = await self._store.update(
            current.registry_id, name, actions if changed else None, description
        )
        if updated is None:
            raise NotFound(f"scope map {name!r} does not exist")
        return updated

    async def delete(self, registry: str, name: str) -> None:
        """Remove a scope map; Invalid for a system map, Conflict while tokens use it."""
        current = await self.show(registry, name)
        if current.system:
            raise Invalid(f"{name!r} is a system scope map; it cannot be deleted")
        try:
            deleted = await self._store.delete(current.registry_id, name)
        except ScopeMapInUse as error:
            raise Conflict(f"{error}; delete or rebind those tokens first") from None
        if not deleted:
            raise NotFound(f"scope map {name!r} does not exist")
