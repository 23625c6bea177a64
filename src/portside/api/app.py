"""Application assembly: `create_app(settings)` builds every engine, driver and service."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from portside.api.assembly import ManagementMount, build_access
from portside.api.errors import exception_handlers
from portside.api.management import create_management_app
from portside.api.management.lifecycle import attach_lifecycle
from portside.api.middleware import RegistryHeaders
from portside.api.routes import routes
from portside.api.state import AppState
from portside.config import Settings, settings_from_environment
from portside.metadata.artifacts import ArtifactStore
from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.gc import CollectorStore
from portside.metadata.leases import LeaseStore
from portside.metadata.manifests import ManifestStore
from portside.metadata.repositories import RepositoryStore
from portside.metadata.tags import TagStore
from portside.metadata.uploads import UploadStore
from portside.services.content.artifacts import ArtifactService
from portside.services.content.blobs import BlobService
from portside.services.content.listings import ListingService
from portside.services.content.manifests import ManifestService
from portside.services.content.platforms import PlatformReader
from portside.services.content.uploads import UploadService
from portside.services.lifecycle.gc import GarbageCollector, collect_periodically
from portside.services.lifecycle.service import LifecycleService, run_lifecycle_periodically
from portside.storage.factory import create_driver

__all__ = ["app_from_environment", "create_app"]

log = logging.getLogger("portside")


def create_app(settings: Settings) -> Starlette:
    """A Portside ASGI application; resources are opened in its lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(
            settings.resolved_database_url(),
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout,
            pool_recycle=settings.database_pool_recycle,
        )
        driver = create_driver(settings)
        repositories = RepositoryStore(db)
        blob_store, tag_store = BlobStore(db), TagStore(db)
        uploads = UploadService(
            blob_store,
            UploadStore(db),
            driver,
            expiry=timedelta(hours=settings.upload_expiry_hours),
        )
        access = await build_access(settings, db)
        app.state.management_api = create_management_app(access.management)
        lifecycle = LifecycleService(db)
        attach_lifecycle(app.state.management_api, lifecycle)
        app.state.portside = AppState(
            blobs=BlobService(
                blob_store,
                driver,
                settings.blob_redirect_seconds,
                # A link in use is refreshed at half the collector's grace period.
                touch_after=timedelta(minutes=settings.gc_grace_minutes / 2),
            ),
            uploads=uploads,
            manifests=ManifestService(ManifestStore(db), tag_store, repositories),
            listings=ListingService(repositories, tag_store),
            artifacts=ArtifactService(
                ArtifactStore(db), ManifestStore(db), tag_store, PlatformReader(driver), driver
            ),
            policy=access.policy,
            directory=access.directory,
            oauth=access.oauth,
            keys=access.keys,
            database=db,
            trust_forwarded_proto=settings.trust_forwarded_proto,
            driver=driver,
        )
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_sweep_uploads, uploads, settings.upload_sweep_seconds)
            if settings.gc_interval_seconds > 0:
                collector = GarbageCollector(
                    CollectorStore(db),
                    LeaseStore(db),
                    driver,
                    grace=timedelta(minutes=settings.gc_grace_minutes),
                )
                tasks.start_soon(collect_periodically, collector, settings.gc_interval_seconds)
            if settings.lifecycle_interval_seconds > 0:
                tasks.start_soon(
                    run_lifecycle_periodically, lifecycle, settings.lifecycle_interval_seconds
                )
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
        await access.aclose()
        await driver.close()
        await db.close()

    return Starlette(
        routes=[*routes(), Mount("/api/v1", app=ManagementMount())],
        exception_handlers=exception_handlers(),
        middleware=[Middleware(RegistryHeaders, access_log=settings.access_log)],
        lifespan=lifespan,
    )


async def _sweep_uploads(uploads: UploadService, interval: float) -> None:
    """Remove expired upload sessions now and then; every process may do it (idempotent)."""
    while True:
        try:
            # Shielded: shutdown waits for a sweep in progress rather than cutting a database
            # transaction in half (which left aiosqlite's worker without its event loop).
            with anyio.CancelScope(shield=True):
                removed = await uploads.expire_idle()
            if removed:
                log.info("removed %d expired upload session(s)", removed)
        except Exception:
            log.exception("sweeping expired uploads failed; will retry")
        await anyio.sleep(interval)


def app_from_environment() -> Starlette:
    """Factory for server workers: settings exported by `portside serve`."""
    return create_app(settings_from_environment())
