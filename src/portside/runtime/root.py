"""`Runtime`: the parts of one Portside process, each built on first use from the settings."""

from __future__ import annotations

import functools
from datetime import timedelta
from functools import cached_property
from types import TracebackType

from anyio.abc import TaskGroup

from portside.auth.federation import TrustedIssuer
from portside.auth.secrets import SecretHasher
from portside.auth.throttle import LoginThrottle
from portside.config import Settings
from portside.metadata.changes import DatabaseChanges
from portside.metadata.database import Database
from portside.metadata.manifest_reads import RememberedManifests
from portside.metadata.throttling import LoginFailureStore, LoginPolicy, RequestCountStore
from portside.runtime.capabilities import Capabilities
from portside.runtime.database import database_of
from portside.runtime.forwarder import LoginServerForwarder, local_login_servers, loopback_address
from portside.runtime.jobs import sweep_uploads_periodically
from portside.runtime.metrics import Metrics
from portside.runtime.stores import Stores
from portside.services.access.hosts import LocalLoginServers, RegistryDirectory
from portside.services.access.issuers import TrustedIssuers
from portside.services.access.oauth import OAuthService
from portside.services.access.policy import AccessPolicy, AccessStores
from portside.services.access.signing import KeyRing
from portside.services.access.throttling import RequestThrottle
from portside.services.content.artifacts import ArtifactService
from portside.services.content.blobs import BlobService
from portside.services.content.listings import ListingService
from portside.services.content.manifests import ManifestService
from portside.services.content.platforms import PlatformReader
from portside.services.content.uploads import UploadService
from portside.services.lifecycle.gc import GarbageCollector, collect_periodically
from portside.services.lifecycle.service import LifecycleService, run_lifecycle_periodically
from portside.services.management.admin import DeploymentAdmin
from portside.services.management.service import ManagementService
from portside.storage.base import StorageDriver
from portside.storage.factory import create_driver, create_located
from portside.storage.located import LocatedBlobs
from portside.storage.timed import TimedDriver

__all__ = ["Runtime"]


class Runtime(Capabilities):
    """Database, storage driver, stores, services and background jobs of one process.

    Parts are `cached_property`s: built when first read, from the parts they need, once.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        driver: StorageDriver | None = None,
        hasher: SecretHasher | None = None,
        throttle: LoginThrottle | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """Parts given here are used instead of built (and `database` and `driver` are then
        the caller's to close); the tests pass a cheap hasher or a strict throttle, the
        application the metrics its middleware also feeds."""
        self.settings = settings
        self.metrics = metrics if metrics is not None else Metrics()
        self._database = database
        self._driver = driver
        self._hasher = hasher
        self._throttle = throttle

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Resources.

    @cached_property
    def database(self) -> Database:
        """The metadata database."""
        if self._database is not None:
            return self._database
        return database_of(self.settings, self.metrics.database_transaction)

    @cached_property
    def driver(self) -> StorageDriver:
        """The storage driver the settings select, its calls timed into the metrics."""
        if self._driver is not None:
            return self._driver
        located = self.located
        chosen = located if located is not None else create_driver(self.settings)
        return TimedDriver(chosen, self.metrics.storage_call)

    @cached_property
    def located(self) -> LocatedBlobs | None:
        """A geo-replicated node's storage over every location; None when not replicated (or
        when a driver was given)."""
        return None if self._driver is not None else create_located(self.settings)

    @cached_property
    def stores(self) -> Stores:
        """One of each metadata store over the database."""
        return Stores.over(self.database)

    # Registry content.

    @cached_property
    def blobs(self) -> BlobService:
        """Blob reads (bytes or a redirect)."""
        return BlobService(
            self.stores.blobs,
            self.driver,
            self.settings.blob_redirect_seconds,
            accel_prefix=self.settings.accel_redirect_prefix,
            # A link in use is refreshed at half the collector's grace period.
            touch_after=timedelta(minutes=self.settings.gc_grace_minutes / 2),
        )

    @cached_property
    def uploads(self) -> UploadService:
        """Upload sessions."""
        return UploadService(
            self.stores.blobs,
            self.stores.uploads,
            self.driver,
            expiry=timedelta(hours=self.settings.upload_expiry_hours),
        )

    @cached_property
    def manifests(self) -> ManifestService:
        """Manifests and tags."""
        # Pulls read through a per-process memory of manifests, exact across nodes.
        remembered = RememberedManifests(self.database, self.changes)
        return ManifestService(
            remembered, self.stores.tags, self.stores.repositories, driver=self.driver
        )

    @cached_property
    def listings(self) -> ListingService:
        """The catalog and tag lists."""
        return ListingService(self.stores.repositories, self.stores.tags, self.changes)

    @cached_property
    def artifacts(self) -> ArtifactService:
        """ACR's metadata API over repositories, manifests and tags."""
        s = self.stores
        return ArtifactService(
            s.artifacts, s.manifests, s.tags, PlatformReader(self.driver), self.driver
        )

    # Access control. One hasher (one cache of verified secrets) and one login throttle are
    # shared by the access policy and the management API.

    @cached_property
    def hasher(self) -> SecretHasher:
        """The secret hasher."""
        return self._hasher if self._hasher is not None else SecretHasher()

    @cached_property
    def throttle(self) -> LoginThrottle:
        """The login throttle."""
        if self._throttle is not None:
            return self._throttle
        s = self.settings
        # Counted in the database, so that the lockout holds for every process and node.
        policy = LoginPolicy(s.login_max_failures, int(s.login_lockout_seconds * 1000))
        return LoginThrottle(
            max_failures=s.login_max_failures,
            lockout_seconds=s.login_lockout_seconds,
            on_failure=self.metrics.login_failed,
            shared=LoginFailureStore(self.database, policy),
        )

    @cached_property
    def request_throttle(self) -> RequestThrottle:
        """Registries' request rate limits, counted with the other nodes in the database."""
        s = self.settings
        return RequestThrottle(
            RequestCountStore(self.database),
            enabled=s.request_rate_limits,
            window_seconds=s.request_rate_window_seconds,
            default_registry=s.default_registry,
            on_refused=self.metrics.request_refused,
        )

    @cached_property
    def keys(self) -> KeyRing:
        """The deployment's signing keys."""
        s = self.settings
        return KeyRing(
            self.stores.signing_keys, issuer=s.token_issuer, algorithm=s.signing_algorithm
        )

    @cached_property
    def local_logins(self) -> LocalLoginServers | None:
        """The loopback login servers, when the server listens on loopback only."""
        return local_login_servers(self.settings)

    @cached_property
    def directory(self) -> RegistryDirectory:
        """Host → registry."""
        s = self.settings
        return RegistryDirectory(
            self.stores.registries,
            domain=s.domain,
            default=s.default_registry,
            local=self.local_logins,
            changes=self.changes,
        )

    @cached_property
    def changes(self) -> DatabaseChanges:
        """Marks of the database's committed state, which per-process caches are checked by."""
        # No marks beside a read replica: a notice of the primary's commit says nothing of
        # what the replica has applied (metadata/changes.py).
        return DatabaseChanges(self.database.url, replica=self.database.has_replica)

    @cached_property
    def policy(self) -> AccessPolicy:
        """Authentication and grants, per registry."""
        return AccessPolicy(
            self._access_stores,
            hasher=self.hasher,
            throttle=self.throttle,
            keys=self.keys,
            anonymous_registry=_anonymous_registry(self.settings),
            registry_of_host=self.directory.name_for_host,
            deployment_secret=self.admin.fingerprint,
            trusts_issuer=self.issuers.trusts,
        )

    @cached_property
    def issuers(self) -> TrustedIssuers:
        """The trusted OIDC issuers (configured and stored) and the verifier of their tokens."""
        configured = [
            TrustedIssuer(
                issuer=trusted.issuer,
                audience=trusted.audience,
                jwks_file=trusted.jwks_file,
                jwks_url=trusted.jwks_url,
                groups_claim=trusted.groups_claim,
                tenant=trusted.tenant,
            )
            for trusted in self.settings.trusted_issuers
        ]
        return TrustedIssuers(self.stores.trusted_issuers, configured)

    @cached_property
    def oauth(self) -> OAuthService:
        """The token endpoints' service."""
        return OAuthService(
            self.policy,
            self.keys,
            directory=self.directory,
            federation=self.issuers,
            access_seconds=self.settings.access_token_seconds,
            refresh_seconds=self.settings.refresh_token_seconds,
            federated_session_seconds=self.settings.federated_session_max_seconds,
        )

    @cached_property
    def _access_stores(self) -> AccessStores:
        return self.stores.access()

    # Management.

    @cached_property
    def admin(self) -> DeploymentAdmin:
        """The deployment administrator's password."""
        return DeploymentAdmin(self.stores.credentials, self.hasher)

    @cached_property
    def management(self) -> ManagementService:
        """Registries, identities, tokens, scope maps, roles and keys."""
        s = self.settings
        return ManagementService(
            self._access_stores,
            usage=self.stores.usage,
            hasher=self.hasher,
            keys=self.keys,
            admin=self.admin,
            throttle=self.throttle,
            domain=s.domain,
            port=s.port,
            default_registry=s.default_registry,
            refresh_token_seconds=s.refresh_token_seconds,
            issuers=self.issuers,
            local_logins=self.local_logins,
            seal=self.secret_box.seal,
        )

    def login_server_forwarder(self) -> LoginServerForwarder | None:
        """The forwarder of the loopback login servers to the main port; None off loopback."""
        if self.local_logins is None:
            return None
        s = self.settings
        return LoginServerForwarder(
            self.stores.registries,
            self.local_logins,
            bind=loopback_address(s),
            target=(s.host, s.port),
            default_registry=s.default_registry,
        )

    # Lifecycle.

    @cached_property
    def lifecycle(self) -> LifecycleService:
        """Policies, retention, the recycle bin and purge."""
        return LifecycleService(self.stores.lifecycle())

    @cached_property
    def collector(self) -> GarbageCollector:
        """The garbage collector with the configured grace period."""
        return self.garbage_collector()

    def garbage_collector(
        self, *, grace: timedelta | None = None, pause: float | None = None
    ) -> GarbageCollector:
        """A new collector over this runtime's stores and driver; `grace` defaults to the
        configured gc_grace_minutes, `pause` to the collector's own default."""
        if grace is None:
            grace = timedelta(minutes=self.settings.gc_grace_minutes)
        return GarbageCollector(
            self.stores.collector, self.stores.leases, self.driver, grace=grace, pause=pause
        )

    # Starting and stopping.

    async def prepare(self) -> str | None:
        """Make sure the server's starting state exists: the administrator password, the
        default registry. The password if one was generated now, else None. (The signing keys
        load, and the first one is made, on their first use: a start need not wait for them.)"""
        # `portside serve` generates a password before workers start; in a worker this only
        # switches a configured password on (nothing is generated when one is stored).
        password = await self.admin.ensure(self.settings.admin_password)
        await self.management.registries.ensure_registry(self.settings.default_registry)
        return password

    def start_jobs(self, tasks: TaskGroup) -> None:
        """Start the background jobs in `tasks` (cancel its scope to stop them): the upload
        sweep, periodic garbage collection and lifecycle runs unless switched off, and the
        capabilities' jobs (runtime/capabilities.py)."""
        s, job_ran = self.settings, self.metrics.job_ran
        tasks.start_soon(sweep_uploads_periodically, self.uploads, s.upload_sweep_seconds)
        if s.gc_interval_seconds > 0:
            tasks.start_soon(
                collect_periodically,
                self.collector,
                s.gc_interval_seconds,
                functools.partial(job_ran, "gc"),
            )
        if s.lifecycle_interval_seconds > 0:
            tasks.start_soon(
                run_lifecycle_periodically,
                self.lifecycle,
                s.lifecycle_interval_seconds,
                functools.partial(job_ran, "lifecycle"),
            )
        self.start_capability_jobs(tasks)

    async def aclose(self) -> None:
        """Close what this runtime built (not a database or driver it was given)."""
        built = self.__dict__
        if "changes" in built:
            await self.changes.aclose()
        issuers = built.get("issuers")
        if issuers is not None:
            await issuers.aclose()
        cache = built.get("cache")
        if cache is not None:  # before the driver: its fetches write through it
            await cache.aclose()
        if self._driver is None and "driver" in built:
            await self.driver.close()
        elif built.get("located") is not None:  # built for status alone, without the driver
            await built["located"].close()
        if self._database is None and "database" in built:
            await self.database.close()


def _anonymous_registry(settings: Settings) -> str | None:
    """The registry open to anonymous push and pull: the default one, on loopback only."""
    if settings.anonymous_loopback and settings.listens_on_loopback():
        return settings.default_registry
    return None
