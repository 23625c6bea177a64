"""Permissions: data-plane actions, repository patterns, ACR roles and scope maps, grants.

An `AccessGrant` is what an identity may do. It is built from role assignments and scope maps
(`permissions`: patterns with actions), or read back from an access token (`exact`: the scopes
the token names). The empty grant `AccessGrant()` allows nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from portside.auth.scopes import MAX_SCOPES, Scope, ScopeError
from portside.oci.errors import NameInvalid
from portside.oci.names import validate_name

__all__ = [
    "ALL_ACTIONS",
    "ANONYMOUS_PULL",
    "DELETE",
    "DELETED_CATALOG",
    "DELETED_READ",
    "DELETED_RESTORE",
    "MANAGE_ROLES",
    "METADATA_READ",
    "METADATA_WRITE",
    "PULL",
    "PUSH",
    "ROLES",
    "SCOPE_MAP_ACTIONS",
    "AccessGrant",
    "PatternError",
    "Permission",
    "RepositoryPattern",
    "UnknownRole",
    "parse_scope_map_action",
    "role_actions",
]

PULL = "pull"
PUSH = "push"
DELETE = "delete"
METADATA_READ = "metadata_read"
METADATA_WRITE = "metadata_write"
# ACR's recycle bin (soft delete): list a repository's deleted manifests and tags, restore them.
DELETED_READ = "deleted_read"
DELETED_RESTORE = "deleted_restore"
ALL_ACTIONS: frozenset[str] = frozenset(
    {PULL, PUSH, DELETE, METADATA_READ, METADATA_WRITE, DELETED_READ, DELETED_RESTORE}
)
ANONYMOUS_PULL: frozenset[str] = frozenset({PULL, METADATA_READ})
"""What anonymous pull opens on a repository: pulling and reading its metadata, as in ACR
(whose SDK lists repositories and tags anonymously)."""
DELETED_CATALOG = "deleted_catalog"
"""The registry resource (`registry:deleted_catalog:*`) listing the deleted repositories."""

# Read-only views: these tables decide access, so nothing may change them at run time.
# ACR's scope maps have no recycle-bin actions: tokens never list or restore deleted content.
SCOPE_MAP_ACTIONS: Mapping[str, str] = MappingProxyType(
    {
        "content/read": PULL,
        "content/write": PUSH,
        "content/delete": DELETE,
        "metadata/read": METADATA_READ,
        "metadata/write": METADATA_WRITE,
    }
)

# The recycle bin follows ACR's roles: only Contributor and Owner hold `registries/deleted/read`
# and `deleted/restore/action` (AcrDelete holds `artifacts/delete` alone).
ROLES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "AcrPull": frozenset({PULL}),
        "AcrPush": frozenset({PULL, PUSH}),
        "AcrDelete": frozenset({DELETE}),
        "Reader": frozenset({PULL, METADATA_READ}),
        "Contributor": ALL_ACTIONS,
        "Owner": ALL_ACTIONS,
    }
)

MANAGE_ROLES = frozenset({"Contributor", "Owner"})
"""Roles that may also manage the registry (identities, tokens, scope maps)."""

_MAX_ACTION_TEXT = 1024
_CATALOG = ("registry", "catalog")
_DELETED_CATALOG = ("registry", DELETED_CATALOG)


class PatternError(ValueError):
    """A repository pattern or scope-map action that cannot be parsed."""


class UnknownRole(ValueError):
    """A role name that is not one of ROLES."""


@dataclass(frozen=True, slots=True)
class RepositoryPattern:
    """Which repositories a permission covers: `*`, an exact name, or `prefix/*`."""

    text: str

    @classmethod
    def parse(cls, text: str) -> RepositoryPattern:
        """Parse a pattern; raise PatternError if it is neither `*`, a name nor `name/*`."""
        if text == "*":
            return cls(text)
        name = text.removesuffix("/*")
        try:
            validate_name(name)
        except NameInvalid as error:
            raise PatternError(f"invalid repository pattern: {error}") from None
        return cls(text)

    def matches(self, name: str) -> bool:
        """True if the repository `name` is covered (`team/*` covers `team/a`, not `team`)."""
        if self.text == "*":
            return True
        if self.text.endswith("/*"):
            return name.startswith(self.text[:-1])
        return name == self.text


def role_actions(role: str) -> frozenset[str]:
    """The actions a built-in role grants; raise UnknownRole for other names."""
    try:
        return ROLES[role]
    except KeyError:
        raise UnknownRole(f"unknown role {role[:80]!r}") from None


def parse_scope_map_action(text: str) -> tuple[RepositoryPattern, str]:
    """Parse an ACR scope-map action, `repositories/<pattern>/content/read` and the like.

    Returns the pattern and the token action it grants (`content/read` grants `pull`).
    """
    if len(text) > _MAX_ACTION_TEXT:
        raise PatternError("scope-map action too long")
    rest = text.removeprefix("repositories/")
    parts = rest.rsplit("/", 2)
    if rest == text or len(parts) != 3:
        raise PatternError("scope-map action must be repositories/<pattern>/<kind>/<verb>")
    pattern, kind, verb = parts
    action = SCOPE_MAP_ACTIONS.get(f"{kind}/{verb}")
    if action is None:
        raise PatternError(f"unknown scope-map action {f'{kind}/{verb}'[:40]!r}")
    return RepositoryPattern.parse(pattern), action


@dataclass(frozen=True, slots=True)
class Permission:
    """Actions granted on every repository a pattern matches."""

    pattern: RepositoryPattern
    actions: frozenset[str]


def _merge(scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    """Scopes naming the same resource merged into one, in first-seen order."""
    merged: dict[tuple[str, str], frozenset[str]] = {}
    for scope in scopes:
        key = (scope.type, scope.name)
        merged[key] = merged.get(key, frozenset()) | scope.actions
    return tuple(Scope(kind, name, actions) for (kind, name), actions in merged.items())


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """Everything an identity may do. The empty grant allows nothing.

    `permissions` come from roles and scope maps; `catalog` allows listing the catalog (the
    listing is then filtered to repositories the caller may pull or read metadata of);
    `exact` holds scopes on named resources, as an access token's `access` claim carries them.
    """

    permissions: tuple[Permission, ...] = ()
    catalog: bool = False
    exact: tuple[Scope, ...] = ()

    def _catalog_allowed(self) -> bool:
        return self.catalog or any((s.type, s.name) == _CATALOG for s in self.exact)

    def _deleted_catalog_allowed(self) -> bool:
        # The deleted catalog names every deleted repository of the registry, so it takes
        # deleted_read on all of them (pattern `*`), or a token that carries it.
        return any(
            p.pattern.text == "*" and DELETED_READ in p.actions for p in self.permissions
        ) or any((s.type, s.name) == _DELETED_CATALOG for s in self.exact)

    def allows(self, scope_type: str, name: str, action: str) -> bool:
        """True if `action` on the resource `scope_type:name` is granted (the Grant protocol)."""
        if scope_type == "registry":
            if name == DELETED_CATALOG:
                return self._deleted_catalog_allowed()
            return name == "catalog" and self._catalog_allowed()
        if scope_type != "repository":
            return False
        if any(p.pattern.matches(name) and action in p.actions for p in self.permissions):
            return True
        return any(
            s.type == "repository" and s.name == name and (action in s.actions or "*" in s.actions)
            for s in self.exact
        )

    def actions_on(self, name: str) -> frozenset[str]:
        """Every action granted on the repository `name` (a granted `*` means all actions)."""
        actions: set[str] = set()
        for permission in self.permissions:
            if permission.pattern.matches(name):
                actions |= permission.actions
        for scope in self.exact:
            if scope.type == "repository" and scope.name == name:
                actions |= scope.actions
        if "*" in actions:
            actions.discard("*")
            actions |= ALL_ACTIONS
        return frozenset(actions)

    def intersect(self, requested: Iterable[Scope]) -> tuple[Scope, ...]:
        """The granted part of each requested scope: what an access token may carry.

        A requested `*` on a repository stands for every action granted on it; the catalog is
        granted as `registry:catalog:*`, the recycle bin's as `registry:deleted_catalog:*`.
        Scopes with nothing granted are left out.
        """
        granted: list[Scope] = []
        for scope in _merge(requested):
            if scope.type == "repository":
                allowed = self.actions_on(scope.name)
                actions = allowed if "*" in scope.actions else scope.actions & allowed
                if actions:
                    granted.append(Scope(scope.type, scope.name, actions))
            elif (
                (scope.type, scope.name) == _CATALOG
                and "*" in scope.actions
                and self._catalog_allowed()
            ):
                granted.append(Scope("registry", "catalog", frozenset({"*"})))
            elif (
                (scope.type, scope.name) == _DELETED_CATALOG
                and "*" in scope.actions
                and self._deleted_catalog_allowed()
            ):
                granted.append(Scope("registry", DELETED_CATALOG, frozenset({"*"})))
        return tuple(granted)

    def union(self, other: AccessGrant) -> AccessGrant:
        """A grant allowing everything either grant allows."""
        permissions = tuple(dict.fromkeys(self.permissions + other.permissions))
        return AccessGrant(
            permissions=permissions,
            catalog=self.catalog or other.catalog,
            exact=_merge(self.exact + other.exact),
        )

    @classmethod
    def from_access_claim(cls, claim: object) -> AccessGrant:
        """Read a token's `access` claim: `[{"type": ..., "name": ..., "actions": [...]}]`.

        Raises ValueError if the claim is malformed or holds more than 64 entries.
        """
        if not isinstance(claim, list):
            raise ValueError("access claim must be a list")
        if len(claim) > MAX_SCOPES:
            raise ValueError(f"access claim holds more than {MAX_SCOPES} entries")
        scopes: list[Scope] = []
        catalog = False
        for entry in claim:
            scope = _parse_access_entry(entry)
            if (scope.type, scope.name) == _CATALOG:
                catalog = catalog or "*" in scope.actions
            elif (scope.type == "repository" and scope.actions) or (
                (scope.type, scope.name) == _DELETED_CATALOG and "*" in scope.actions
            ):
                scopes.append(scope)
        return cls(catalog=catalog, exact=_merge(scopes))

    def to_access_claim(self) -> list[dict[str, object]]:
        """The `exact` scopes and the catalog as a token's `access` claim (actions sorted)."""
        claim: list[dict[str, object]] = []
        has_catalog = False
        for scope in _merge(self.exact):
            has_catalog = has_catalog or (scope.type, scope.name) == _CATALOG
            claim.append({"type": scope.type, "name": scope.name, "actions": sorted(scope.actions)})
        if self.catalog and not has_catalog:
            claim.append({"type": "registry", "name": "catalog", "actions": ["*"]})
        return claim


def _parse_access_entry(entry: object) -> Scope:
    """One `access` claim entry as a Scope; ValueError if it is malformed."""
    if not isinstance(entry, dict):
        raise ValueError("access claim entry must be an object")
    kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
    if not isinstance(kind, str) or not isinstance(name, str):
        raise ValueError("access claim entry needs string type and name")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise ValueError("access claim entry needs a list of string actions")
    if any("," in action for action in actions):
        raise ValueError("access claim action contains a comma")
    try:
        # A placeholder action validates type and name even when `actions` is empty.
        scope = Scope.parse(f"{kind}:{name}:{','.join(actions) or 'pull'}")
    except ScopeError as error:
        raise ValueError(f"invalid access claim entry: {error}") from None
    return Scope(scope.type, scope.name, frozenset(actions))
