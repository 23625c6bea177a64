"""Retention: checking lifecycle policies and rules, and applying them to a registry.

- Untagged retention (`retention_untagged_days`, 0-365, as ACR): manifests untagged for more
  than that many days are deleted; 0 deletes them at the next run. Children of an index,
  referrers of a manifest and locked manifests stay (metadata/pruning.py).
- Keep-last-N rules: in each repository matching the rule's pattern (`*`, a name or
  `prefix/*`), the tags matching its expression (RE2 syntax, as purge's; it only has to occur
  in the tag name) are ordered by last update, newest first; those after the first `keep_last`
  are deleted, except locked ones. Their manifests stay, untagged, for untagged retention.
- Soft delete (`soft_delete_days`, 1-90): deletions, these included, go to the recycle bin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from portside.auth.permissions import PatternError, RepositoryPattern
from portside.metadata.clock import utcnow
from portside.metadata.deletion import Removal
from portside.metadata.pruning import PruneStore
from portside.metadata.retention import LifecyclePolicy, RetentionRule
from portside.services.lifecycle.purge import compile_expression
from portside.services.management.errors import Invalid

__all__ = [
    "MAX_KEEP_LAST",
    "MAX_RETENTION_DAYS",
    "MAX_SOFT_DELETE_DAYS",
    "MIN_SOFT_DELETE_DAYS",
    "RetentionRun",
    "apply_rules",
    "apply_untagged_retention",
    "check_policy",
    "check_rule",
]

log = logging.getLogger(__name__)

MAX_RETENTION_DAYS = 365
"""Longest untagged retention, in days (ACR's limit)."""
MIN_SOFT_DELETE_DAYS = 1
MAX_SOFT_DELETE_DAYS = 90
"""Soft-delete retention range, in days (ACR's)."""
MAX_KEEP_LAST = 10_000
"""Most tags a keep-last-N rule may keep."""

_BATCH = 500


@dataclass(frozen=True, slots=True)
class RetentionRun:
    """What one registry's retention run deleted and what locks kept."""

    removed: tuple[Removal, ...]

    @property
    def deleted(self) -> list[Removal]:
        """The items deleted."""
        return [r for r in self.removed if r.skipped is None]

    @property
    def skipped(self) -> list[Removal]:
        """The items a lock kept."""
        return [r for r in self.removed if r.skipped is not None]


def check_policy(policy: LifecyclePolicy) -> LifecyclePolicy:
    """`policy` if its day counts are in range; Invalid otherwise."""
    days = policy.retention_untagged_days
    if days is not None and not 0 <= days <= MAX_RETENTION_DAYS:
        raise Invalid(f"retentionUntaggedDays must be between 0 and {MAX_RETENTION_DAYS}")
    soft = policy.soft_delete_days
    if soft is not None and not MIN_SOFT_DELETE_DAYS <= soft <= MAX_SOFT_DELETE_DAYS:
        raise Invalid(
            f"softDeleteDays must be between {MIN_SOFT_DELETE_DAYS} and {MAX_SOFT_DELETE_DAYS}"
        )
    return policy


def check_rule(repositories: str, tag_filter: str, keep_last: int) -> None:
    """Invalid unless the pattern, the expression and the count are usable."""
    try:
        RepositoryPattern.parse(repositories)
    except PatternError as error:
        raise Invalid(f"{error}: use *, a repository name or prefix/*") from None
    compile_expression(tag_filter, "tag filter")
    if not 1 <= keep_last <= MAX_KEEP_LAST:
        raise Invalid(f"keepLast must be between 1 and {MAX_KEEP_LAST}")


async def apply_rules(
    prune: PruneStore, registry_id: int, rules: tuple[RetentionRule, ...]
) -> list[Removal]:
    """Delete the tags each keep-last-N rule does not keep; what went and what locks kept."""
    if not rules:
        return []
    removed: list[Removal] = []
    repositories = await prune.repositories(registry_id)
    for rule in rules:
        try:
            pattern = RepositoryPattern.parse(rule.repositories)
            expression = compile_expression(rule.tag_filter, "tag filter")
        except (PatternError, Invalid):
            log.warning(
                "retention rule %d of registry %d is unusable; skipped", rule.id, registry_id
            )
            continue
        reason = f"beyond the newest {rule.keep_last} tags matching {rule.tag_filter}"
        for repository in repositories:
            if not pattern.matches(repository):
                continue
            matching = [
                t for t in await prune.tags(registry_id, repository) if expression.search(t.name)
            ]
            for info in matching[rule.keep_last :]:
                if info.locked:
                    removed.append(
                        Removal(repository, "tag", info.digest, (info.name,), reason, info.locked)
                    )
                    continue
                removal = await prune.delete_tag(
                    registry_id, repository, info.name, info.digest, reason
                )
                if removal is not None:
                    removed.append(removal)
    return removed


async def apply_untagged_retention(
    prune: PruneStore, registry_id: int, days: int, now: datetime | None = None
) -> list[Removal]:
    """Delete the manifests untagged for more than `days` days (at `now`, default: now)."""
    before = (now or utcnow()) - timedelta(days=days)
    reason = f"untagged for more than {days} days"
    removed: list[Removal] = []
    after = 0
    while True:
        found = await prune.untagged(registry_id, before=before, after_id=after, limit=_BATCH)
        for candidate in found:
            removed += await prune.delete_untagged(
                registry_id, candidate.repository, candidate.digest, before=before, reason=reason
            )
        if len(found) < _BATCH:
            return removed
        after = found[-1].id
