"""The lifecycle service: policies, retention rules, the recycle bin, purge, and the periodic
job that applies them.

`LifecycleService(stores)` (built by the composition root, portside/runtime) is what the
management API's lifecycle routes call (names of registries in, ManagementError subclasses
out) and what `run_lifecycle_periodically` runs:
every `interval_seconds`, the process that holds the cluster-wide "lifecycle" lease removes
expired recycle-bin entries, then applies each registry's keep-last-N rules and its untagged
retention (services/lifecycle/retention.py), and logs a summary. A failure is logged and the job
carries on at the next interval.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import anyio

from portside.logs import job_failed
from portside.metadata.leases import LeaseStore
from portside.metadata.pruning import PruneStore
from portside.metadata.records import RegistryRecord
from portside.metadata.recycle_bin import (
    DeletedManifest,
    DeletedRepository,
    DeletedTag,
    RecycleBinStore,
)
from portside.metadata.registries import RegistryStore
from portside.metadata.restore import Restored, RestoreStore
from portside.metadata.retention import LifecyclePolicy, RetentionRule, RetentionStore
from portside.services.lifecycle.purge import Purger, PurgeRequest, PurgeResult
from portside.services.lifecycle.recycle import RecycleBin
from portside.services.lifecycle.retention import (
    apply_rules,
    apply_untagged_retention,
    check_policy,
    check_rule,
)
from portside.services.management.context import lookable
from portside.services.management.errors import Conflict, NotFound

__all__ = [
    "LEASE",
    "LifecycleService",
    "LifecycleStores",
    "LifecycleSummary",
    "run_lifecycle_periodically",
]

log = logging.getLogger(__name__)

LEASE = "lifecycle"
"""The lease that lets one process at a time run the job."""

_MIN_LEASE = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class LifecycleSummary:
    """What one run of the job did."""

    registries: int = 0
    tags_deleted: int = 0
    manifests_deleted: int = 0
    skipped: int = 0
    expired_manifests: int = 0
    expired_tags: int = 0
    failures: int = 0

    def describe(self) -> str:
        """One log line."""
        return (
            f"{self.registries} registries with policies: {self.tags_deleted} tag(s) and "
            f"{self.manifests_deleted} manifest(s) deleted, {self.skipped} locked item(s) "
            f"skipped; {self.expired_manifests} manifest(s) and {self.expired_tags} tag(s) "
            f"expired from the recycle bin; {self.failures} registry run(s) failed"
        )


@dataclass(frozen=True, slots=True)
class LifecycleStores:
    """The metadata the lifecycle service reads and changes."""

    registries: RegistryStore
    retention: RetentionStore
    prune: PruneStore
    recycle_bin: RecycleBinStore
    restore: RestoreStore
    leases: LeaseStore


class LifecycleService:
    """Lifecycle policies, the recycle bin and purge of every registry of a deployment."""

    def __init__(self, stores: LifecycleStores) -> None:
        """Work on `stores` (one set shared with the rest of the process)."""
        self.stores = stores
        self._registries = stores.registries
        self._retention = stores.retention
        self._prune = stores.prune
        self._bin_store = stores.recycle_bin
        self._bin = RecycleBin(stores.recycle_bin, stores.restore)
        self._purger = Purger(stores.prune)
        self.leases = stores.leases

    async def registry(self, name: str) -> RegistryRecord:
        """The registry called `name`; NotFound otherwise."""
        record = await self._registries.get(name.lower()) if lookable(name) else None
        if record is None:
            raise NotFound(f"registry {name[:64]!r} does not exist")
        return record

    async def policy(self, registry: str) -> LifecyclePolicy:
        """The registry's lifecycle settings."""
        return await self._retention.policy((await self.registry(registry)).id)

    async def update_policy(self, registry: str, policy: LifecyclePolicy) -> LifecyclePolicy:
        """Replace the registry's lifecycle settings; Invalid if a day count is out of range."""
        check_policy(policy)
        record = await self.registry(registry)
        if not await self._retention.set_policy(record.id, policy):
            raise NotFound(f"registry {registry[:64]!r} does not exist")
        return await self._retention.policy(record.id)

    async def rules(self, registry: str) -> list[RetentionRule]:
        """The registry's keep-last-N rules."""
        return await self._retention.rules((await self.registry(registry)).id)

    async def add_rule(
        self, registry: str, repositories: str, tag_filter: str, keep_last: int
    ) -> RetentionRule:
        """Add a keep-last-N rule; Conflict if one exists for the same pattern and filter."""
        check_rule(repositories, tag_filter, keep_last)
        record = await self.registry(registry)
        rule = await self._retention.add_rule(record.id, repositories, tag_filter, keep_last)
        if rule is None:
            raise Conflict(
                f"a rule for repositories {repositories!r} and tags {tag_filter!r} exists"
            )
        return rule

    async def delete_rule(self, registry: str, rule_id: int) -> None:
        """Remove a rule; NotFound if the registry has no such rule."""
        record = await self.registry(registry)
        if not await self._retention.delete_rule(record.id, rule_id):
            raise NotFound(f"registry {record.name!r} has no retention rule {rule_id}")

    async def deleted_repositories(
        self, registry: str, *, include_live: bool = False
    ) -> list[DeletedRepository]:
        """Deleted repositories with manifests in the recycle bin."""
        record = await self.registry(registry)
        return await self._bin.repositories(record.id, include_live=include_live)

    async def deleted_manifests(self, registry: str, repository: str) -> list[DeletedManifest]:
        """A repository's manifests in the recycle bin."""
        return await self._bin.manifests((await self.registry(registry)).id, repository)

    async def deleted_tags(self, registry: str, repository: str) -> list[DeletedTag]:
        """A repository's tags deleted alone, in the recycle bin."""
        return await self._bin.tags((await self.registry(registry)).id, repository)

    async def restore(
        self, registry: str, repository: str, digest: str, tags: Sequence[str] | None
    ) -> Restored:
        """Restore a manifest (or the tags deleted from it) from the recycle bin."""
        record = await self.registry(registry)
        return await self._bin.restore(record.id, repository, digest, tags)

    async def purge(self, registry: str, request: PurgeRequest) -> PurgeResult:
        """Purge tags (and untagged manifests) of the registry as acr purge does."""
        return await self._purger.run((await self.registry(registry)).id, request)

    async def run_once(
        self, heartbeat: Callable[[], Awaitable[object]] | None = None
    ) -> LifecycleSummary:
        """Expire the recycle bin, then apply every registry's rules and untagged retention.

        A registry whose run fails is logged and counted; the others go on. `heartbeat` is
        awaited between registries (to keep a lease).
        """
        expired_manifests, expired_tags = await self._bin_store.expire()
        tags = manifests = skipped = failures = 0
        active = await self._retention.active()
        for registry in active:
            if heartbeat is not None:
                await heartbeat()
            try:
                removed = await apply_rules(self._prune, registry.registry_id, registry.rules)
                days = registry.policy.retention_untagged_days
                if days is not None:
                    removed += await apply_untagged_retention(
                        self._prune, registry.registry_id, days
                    )
            except Exception:
                log.exception("lifecycle policies of registry %s failed", registry.name)
                failures += 1
                continue
            skipped += sum(1 for r in removed if r.skipped is not None)
            done = [r for r in removed if r.skipped is None]
            tags += sum(len(r.tags) if r.kind == "tag" else 0 for r in done)
            manifests += sum(1 for r in done if r.kind == "manifest")
        return LifecycleSummary(
            len(active), tags, manifests, skipped, expired_manifests, expired_tags, failures
        )

    async def run_leased(self, holder: str, ttl: timedelta) -> LifecycleSummary | None:
        """Run once if `holder` gets (or keeps) the lifecycle lease; None if another has it.

        The lease is kept after the run (until it expires, or this holder renews it at its
        next run), so that the other processes waking during the interval do not run again.
        """
        if not await self.leases.acquire(LEASE, holder, ttl):
            return None
        return await self.run_once(lambda: self.leases.acquire(LEASE, holder, ttl))


async def run_lifecycle_periodically(
    service: LifecycleService,
    interval_seconds: float,
    on_run: Callable[[str], None] | None = None,
) -> None:
    """Run the lifecycle job every `interval_seconds` (sleeping first) under the lifecycle
    lease, logging a summary of each run; failures are logged, never raised. A run in
    progress is finished before cancellation takes effect; the lease is released then.
    `on_run` hears each run's outcome: "ran", "skipped" (another holder) or "failed"."""
    record = on_run or (lambda outcome: None)
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    ttl = max(timedelta(seconds=interval_seconds), _MIN_LEASE)
    try:
        while True:
            await anyio.sleep(interval_seconds)
            try:
                # Shielded: shutdown waits for the run rather than cutting a transaction.
                with anyio.CancelScope(shield=True):
                    summary = await service.run_leased(holder, ttl)
            except Exception:
                job_failed(log, "the lifecycle job failed; will retry")
                record("failed")
                continue
            record("skipped" if summary is None else "ran")
            if summary is not None:
                log.info("lifecycle: %s", summary.describe())
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await service.leases.release(LEASE, holder)
            except Exception:
                log.warning("could not release the lifecycle lease", exc_info=True)
