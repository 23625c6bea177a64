"""`Capabilities`: the parts of the capabilities built around the registry engine (events,
import and cache, geo-replication, the portal), mixed into `Runtime` (runtime/root.py).

They are built, as the engine's parts are, on first use; `Runtime` provides what they stand on
(settings, metrics, database, stores, the content services, the located storage).
"""

from __future__ import annotations

import functools
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from portside.config import Settings
from portside.metadata.audit import AuditStore
from portside.metadata.credential_sets import CredentialSetStore, DeploymentKeyStore
from portside.metadata.database import Database
from portside.metadata.imports import ImportStore
from portside.metadata.portal_directory import PortalDirectoryStore
from portside.metadata.portal_sessions import PortalSessionStore
from portside.metadata.regional_events import RegionalEventStore
from portside.runtime.metrics import Metrics
from portside.runtime.stores import Stores
from portside.services.content.blobs import BlobService
from portside.services.content.manifests import ManifestService
from portside.services.content.uploads import UploadService
from portside.services.events.audit import AuditLog, prune_periodically
from portside.services.events.webhooks import WebhookService
from portside.services.replication.service import ReplicationService
from portside.services.replication.worker import Replicator, replicate_periodically
from portside.storage.located import LocatedBlobs

if TYPE_CHECKING:
    # Built on first use, and imported then: these stand on an HTTP client (httpx, with h11's
    # grammar), whose import would otherwise be a fifth of a worker's start.
    from portside.services.events.delivery import WebhookDeliverer
    from portside.services.imports.cache import PullThrough
    from portside.services.imports.cache_rules import CacheRuleService
    from portside.services.imports.credential_sets import CredentialSetService
    from portside.services.imports.imports import ImportService
    from portside.services.imports.policy import UpstreamPolicy
    from portside.services.imports.sealing import SecretBox

__all__ = ["Capabilities"]

_JOBS_AFTER_SECONDS = 1.0
"""How long after a worker's start its webhook deliveries and import jobs begin: what they
import and build then is not in the way of the worker's first answers."""


class Capabilities:
    """Webhooks and the audit log, import and cache, geo-replication, portal sessions."""

    # Provided by Runtime: its constructor's attributes and its cached engine parts.
    settings: Settings
    metrics: Metrics
    if TYPE_CHECKING:

        @property
        def database(self) -> Database: ...
        @property
        def stores(self) -> Stores: ...
        @property
        def blobs(self) -> BlobService: ...
        @property
        def uploads(self) -> UploadService: ...
        @property
        def manifests(self) -> ManifestService: ...
        @property
        def located(self) -> LocatedBlobs | None: ...

    @cached_property
    def portal_sessions(self) -> PortalSessionStore:
        """The web portal's sign-in sessions (in the database: shared by every node)."""
        return PortalSessionStore(self.database)

    @cached_property
    def portal_directory(self) -> PortalDirectoryStore:
        """The portal's pending directory sign-ins and directory sessions (shared by every node)."""
        return PortalDirectoryStore(self.database)

    # Events.

    @cached_property
    def webhooks(self) -> WebhookService:
        """Registries' webhooks and their events."""
        s = self.stores
        return WebhookService(
            s.registries,
            s.webhooks,
            s.webhook_events,
            allow_private=self.settings.allow_private_network_targets,
            replications=s.replication,
            locations=[*self.settings.locations, *filter(None, [self.settings.location])],
        )

    @cached_property
    def deliverer(self) -> WebhookDeliverer:
        """The sender of the webhook outbox."""
        from portside.services.events.delivery import (
            DeliveryObserver,
            DeliveryPolicy,
            WebhookDeliverer,
        )

        s = self.settings
        policy = DeliveryPolicy(
            timeout=s.webhook_timeout_seconds,
            retry_window=timedelta(seconds=s.webhook_retry_seconds),
            first_delay=s.webhook_retry_first_seconds,
            allow_private=s.allow_private_network_targets,
            retention=timedelta(days=s.webhook_event_retention_days) or None,  # 0 days: kept
        )
        observer = DeliveryObserver(self.metrics.webhook_attempted, self.metrics.webhook_pending)
        return WebhookDeliverer(
            self.stores.webhook_events, self.stores.leases, policy, observer=observer
        )

    # Import and cache.

    @cached_property
    def secret_box(self) -> SecretBox:
        """Seals secrets at rest (credential-set passwords) with the deployment key."""
        from portside.services.imports.sealing import SecretBox, parse_key

        configured = self.settings.secrets_key
        key = parse_key(configured) if configured else None
        return SecretBox(DeploymentKeyStore(self.database), key)

    @cached_property
    def credential_sets(self) -> CredentialSetService:
        """Registries' credentials for upstream registries (`az acr credential-set`)."""
        from portside.services.imports.credential_sets import CredentialSetService

        return CredentialSetService(
            self.stores.registries, CredentialSetStore(self.database), self.secret_box
        )

    @cached_property
    def upstream_policy(self) -> UpstreamPolicy:
        """Which upstream registries imports and cache rules may call, and over what."""
        from portside.services.imports.policy import UpstreamPolicy

        s = self.settings
        return UpstreamPolicy(
            allow_private=s.allow_private_network_targets,
            insecure=frozenset(host.lower() for host in s.insecure_upstreams),
        )

    @cached_property
    def imports(self) -> ImportService:
        """Import jobs (`portside import`), run in this process, their state in the database."""
        from portside.services.imports.imports import ImportService

        s = self.stores
        return ImportService(
            s.registries,
            ImportStore(self.database),
            s.manifests,
            self.manifests,
            self.uploads,
            self.credential_sets,
            self.upstream_policy,
        )

    @cached_property
    def cache_rules(self) -> CacheRuleService:
        """Registries' cache rules (`az acr cache`)."""
        from portside.services.imports.cache_rules import CacheRuleService

        return CacheRuleService(
            self.stores.registries,
            self.stores.cache_rules,
            credential_sets=self.credential_sets,
            on_change=self.cache.forget_rules,
        )

    @cached_property
    def cache(self) -> PullThrough:
        """Pull-through of the repositories under cache rules (the data plane's hook)."""
        from portside.services.imports.cache import PullThrough
        from portside.services.imports.cache_blobs import BlobFlights

        return PullThrough(
            self.stores.cache_rules,
            self.manifests,
            self.blobs,
            BlobFlights(self.uploads),
            self.upstream_policy,
            credentials=self.credential_sets.credentials,
        )

    @cached_property
    def audit(self) -> AuditLog:
        """The audit log: records buffered here and written in batches by `start_jobs`."""
        days = self.settings.audit_retention_days
        return AuditLog(
            AuditStore(self.database),
            self.stores.leases,
            retention=timedelta(days=days) if days > 0 else None,
        )

    # Geo-replication.

    @cached_property
    def replication(self) -> ReplicationService:
        """Replications of registries and their status."""
        s = self.settings
        known = [*s.locations, *([s.location] if s.location else [])]
        return ReplicationService(
            self.stores.registries, self.stores.replication, self.located, known
        )

    @cached_property
    def replicator(self) -> Replicator | None:
        """The replication worker of this node's location; None when not replicated."""
        if self.located is None:
            return None
        s = self.settings
        return Replicator(
            self.stores.replication,
            self.stores.leases,
            self.located,
            concurrency=s.replication_concurrency,
            regional=RegionalEventStore(self.database),
        )

    def start_capability_jobs(self, tasks: TaskGroup) -> None:
        """Start in `tasks` webhook deliveries (unless switched off), the runner of the import
        jobs this process accepts, the audit log's writer and pruning, and replication into
        this node's location (when it has one)."""
        s = self.settings
        tasks.start_soon(self._deliveries_and_imports)
        # The audit log's writer (which flushes its buffer once more when cancelled at
        # shutdown) and the hourly pruning of records past the retention period.
        tasks.start_soon(self.audit.run_writer)
        tasks.start_soon(prune_periodically, self.audit)
        if self.replicator is not None and s.replication_poll_seconds > 0:
            run = functools.partial(self.metrics.job_ran, "replication")
            tasks.start_soon(
                replicate_periodically, self.replicator, s.replication_poll_seconds, run
            )

    async def _deliveries_and_imports(self) -> None:
        """Webhook deliveries (unless switched off) and the import jobs' runner, shortly after
        the start (`_JOBS_AFTER_SECONDS`)."""
        await anyio.sleep(_JOBS_AFTER_SECONDS)
        from portside.services.events.delivery import deliver_periodically

        poll = self.settings.webhook_poll_seconds
        async with anyio.create_task_group() as tasks:
            if poll > 0:
                tasks.start_soon(deliver_periodically, self.deliverer, poll)
            tasks.start_soon(self.imports.run_jobs)
