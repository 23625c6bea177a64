"""Cache rules, like `az acr cache`: create, list, show, update, delete, and matching.

A rule maps upstream repositories to local ones. Both sides are either one repository
(`docker.io/library/ubuntu` → `ubuntu`) or a prefix with a trailing `/*` (`ghcr.io/org/*` →
`org/*`), and, as in ACR, the `*` matches any depth: `org/team/app` is served from
`ghcr.io/org/team/app`. A repository under several rules is served by the most specific one:
an exact rule first, then the longest prefix.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from portside.metadata.cache_rules import CacheRuleRecord, CacheRuleStore
from portside.metadata.registries import RegistryStore
from portside.oci.errors import NameInvalid
from portside.oci.names import validate_name
from portside.services.imports.credential_sets import CredentialSetService
from portside.services.management.errors import Conflict, Invalid, NotFound

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "CacheRuleService",
    "CacheRuleSpec",
    "Match",
    "match_rule",
    "split_source",
]

DEFAULT_TTL_SECONDS = 3600
"""How long a cached tag is served before it is re-checked upstream, unless a rule says."""

MAX_TTL_SECONDS = 365 * 24 * 3600
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{4,49}")
# A login server: a host name or an IPv4 address, an optional port. No scheme, no user info.
_HOST = re.compile(
    r"(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?::[0-9]{1,5})?|\[[0-9a-fA-F:]+\](?::[0-9]{1,5})?"
)
_WILD = "/*"


@dataclass(frozen=True, slots=True)
class CacheRuleSpec:
    """What a create or update asks for; None keeps (update) or defaults (create)."""

    source_repo: str | None = None
    target_repo: str | None = None
    credential_set: str | None = None
    ttl_seconds: int | None = None
    allow_push: bool | None = None
    clear_credential_set: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """A local repository under a rule, and the upstream repository that serves it."""

    rule: CacheRuleRecord
    host: str
    upstream_repository: str


def _is_wild(pattern: str) -> bool:
    return pattern.endswith(_WILD)


def _stem(pattern: str) -> str:
    return pattern[: -len(_WILD)] if _is_wild(pattern) else pattern


def split_source(source: str) -> tuple[str, str]:
    """`HOST/path[/*]` → (HOST, path[/*]); Invalid unless both parts are well formed."""
    host, _, path = source.partition("/")
    # As docker decides: a first component without `.` or `:` (and not localhost) is a
    # repository path on Docker Hub, not a host; a rule names its upstream explicitly.
    looks_like_host = "." in host or ":" in host or host == "localhost"
    if not path or not looks_like_host or not _HOST.fullmatch(host):
        raise Invalid(
            f"the source repository is HOST/path or HOST/path/*, e.g. docker.io/library/*; "
            f"got {source[:300]!r}"
        )
    _check_path(path, "source")
    return host.lower(), path


def _check_path(pattern: str, side: str) -> None:
    stem = _stem(pattern)
    if "*" in stem:
        raise Invalid(f"the {side} repository may only end in `/*`; got {pattern[:300]!r}")
    try:
        validate_name(stem)
    except NameInvalid:
        raise Invalid(
            f"the {side} repository {pattern[:300]!r} is not a repository name "
            "(lowercase components separated by `/`, optionally ending in `/*`)"
        ) from None


def _check_pair(source: str, target: str) -> None:
    _, path = split_source(source)
    _check_path(target, "target")
    if _is_wild(path) != _is_wild(target):
        raise Invalid("the source and target repositories both end in `/*`, or neither does")


def match_rule(rules: Sequence[CacheRuleRecord], repository: str) -> Match | None:
    """The most specific rule whose target covers `repository`, and the upstream it names."""
    best: CacheRuleRecord | None = None
    for rule in rules:
        target = rule.target_repo
        if target == repository:
            best = rule
            break
        covers = _is_wild(target) and repository.startswith(_stem(target) + "/")
        if covers and (best is None or len(target) > len(best.target_repo)):
            best = rule
    if best is None:
        return None
    host, path = split_source(best.source_repo)
    if _is_wild(best.target_repo):
        rest = repository[len(_stem(best.target_repo)) + 1 :]
        upstream = f"{_stem(path)}/{rest}"
    else:
        upstream = path
    return Match(best, host, upstream)


def _ttl(seconds: int) -> int:
    if not 0 <= seconds <= MAX_TTL_SECONDS:
        raise Invalid(f"the TTL is 0 to {MAX_TTL_SECONDS} seconds; got {seconds}")
    return seconds


class CacheRuleService:
    """The cache rules of registries."""

    def __init__(
        self,
        registries: RegistryStore,
        rules: CacheRuleStore,
        *,
        credential_sets: CredentialSetService | None = None,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self._registries = registries
        self._rules = rules
        self._credential_sets = credential_sets
        # The pull path's copy of the rules, told at once of a change made in this process.
        self._on_change = on_change or (lambda registry_id: None)

    async def create(self, registry: str, name: str, spec: CacheRuleSpec) -> CacheRuleRecord:
        """Add a rule. Invalid for a bad name or pattern; Conflict if the name or the target
        is taken."""
        registry_id = await self._registry_id(registry)
        if not _NAME.fullmatch(name):
            raise Invalid("a cache rule name is 5 to 50 letters, digits and hyphens")
        if spec.source_repo is None or spec.target_repo is None:
            raise Invalid("a cache rule needs a source and a target repository")
        _check_pair(spec.source_repo, spec.target_repo)
        if spec.credential_set:
            await self._check_credential_set(registry, spec.credential_set)
        values = {
            "source_repo": spec.source_repo,
            "target_repo": spec.target_repo,
            "credential_set": spec.credential_set or None,
            "ttl_seconds": _ttl(
                DEFAULT_TTL_SECONDS if spec.ttl_seconds is None else spec.ttl_seconds
            ),
            "allow_push": bool(spec.allow_push),
        }
        created = await self._rules.create(registry_id, name, values)
        if created is None:
            raise Conflict(
                f"a cache rule named {name!r} or with target {spec.target_repo!r} already "
                f"exists in {registry!r}"
            )
        self._on_change(registry_id)
        return created

    async def list(self, registry: str) -> builtins.list[CacheRuleRecord]:
        """The registry's rules by name."""
        return await self._rules.list(await self._registry_id(registry))

    async def show(self, registry: str, name: str) -> CacheRuleRecord:
        """One rule; NotFound if there is none."""
        return await self._rule(registry, name)

    async def update(self, registry: str, name: str, spec: CacheRuleSpec) -> CacheRuleRecord:
        """Change the credential set, TTL or push permission (the repositories stay, as in
        ACR: a rule with other repositories is another rule)."""
        rule = await self._rule(registry, name)
        if spec.source_repo is not None or spec.target_repo is not None:
            raise Invalid("a cache rule's repositories cannot change: delete it, create another")
        changes: dict[str, Any] = {}
        if spec.clear_credential_set:
            changes["credential_set"] = None
        elif spec.credential_set is not None:
            await self._check_credential_set(registry, spec.credential_set)
            changes["credential_set"] = spec.credential_set
        if spec.ttl_seconds is not None:
            changes["ttl_seconds"] = _ttl(spec.ttl_seconds)
        if spec.allow_push is not None:
            changes["allow_push"] = spec.allow_push
        updated = await self._rules.update(rule.registry_id, name, changes)
        if updated is None:
            raise NotFound(f"cache rule {name!r} does not exist in {registry!r}")
        self._on_change(rule.registry_id)
        return updated

    async def delete(self, registry: str, name: str) -> None:
        """Remove a rule; what it cached stays, as ordinary content."""
        rule = await self._rule(registry, name)
        if not await self._rules.delete(rule.registry_id, name):
            raise NotFound(f"cache rule {name!r} does not exist in {registry!r}")
        self._on_change(rule.registry_id)

    async def _check_credential_set(self, registry: str, name: str) -> None:
        """Invalid unless the registry has the credential set (when sets can be read here)."""
        if self._credential_sets is None:
            return
        try:
            await self._credential_sets.show(registry, name)
        except NotFound:
            raise Invalid(f"credential set {name[:50]!r} does not exist in {registry!r}") from None

    async def _registry_id(self, registry: str) -> int:
        record = await self._registries.get(registry.lower()) if len(registry) <= 64 else None
        if record is None:
            raise NotFound(f"registry {registry[:64]!r} does not exist")
        return record.id

    async def _rule(self, registry: str, name: str) -> CacheRuleRecord:
        registry_id = await self._registry_id(registry)
        found = await self._rules.get(registry_id, name) if len(name) <= 50 else None
        if found is None:
            raise NotFound(f"cache rule {name[:50]!r} does not exist in {registry!r}")
        return found
