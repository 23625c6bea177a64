"""Application assembly: `create_app(settings)` builds every engine, driver and service."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware

from portside.api.drivers import create_driver
from portside.api.errors import exception_handlers
from portside.api.middleware import RegistryHeaders
from portside.api.routes import routes
from portside.api.state import AppState
from portside.auth.federation import FederatedVerifier, TrustedIssuer
from portside.auth.secrets import SecretHasher
from portside.auth.throttle import LoginThrottle
from portside.config import Settings, settings_from_environment
from portside.metadata.blobs import BlobStore
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.manifests import ManifestStore
from portside.metadata.principals import RoleAssignmentStore, ServicePrincipalStore
from portside.metadata.registries import RegistryStore
from portside.metadata.repositories import RepositoryStore
from portside.metadata.scope_maps import ScopeMapStore, TokenStore
from portside.metadata.signing_keys import SigningKeyStore
from portside.metadata.tags import TagStore
from portside.metadata.uploads import UploadStore
from portside.services.access import AccessPolicy, AccessStores
from portside.services.blobs import BlobService
from portside.services.hosts import RegistryDirectory
from portside.services.listings import ListingService
from portside.services.manifests import ManifestService
from portside.services.oauth import OAuthService
from portside.services.signing import KeyRing
from portside.services.uploads import UploadService

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
        registry_store = RegistryStore(db)
        await registry_store.ensure(settings.default_registry)
        keys = KeyRing(
            SigningKeyStore(db),
            issuer=settings.token_issuer,
            algorithm=settings.signing_algorithm,
        )
        await keys.reload()
        policy = AccessPolicy(
            AccessStores(
                registries=registry_store,
                credentials=CredentialStore(db),
                tokens=TokenStore(db),
                scope_maps=ScopeMapStore(db),
                principals=ServicePrincipalStore(db),
                roles=RoleAssignmentStore(db),
            ),
            hasher=SecretHasher(),
            throttle=LoginThrottle(
                max_failures=settings.login_max_failures,
                lockout_seconds=settings.login_lockout_seconds,
            ),
            keys=keys,
            anonymous_registry=_anonymous_registry(settings),
        )
        federation = _federation(settings)
        app.state.portside = AppState(
            blobs=BlobService(blob_store, driver, settings.blob_redirect_seconds),
            uploads=uploads,
            manifests=ManifestService(ManifestStore(db), tag_store, repositories),
            listings=ListingService(repositories, tag_store),
            policy=policy,
            directory=RegistryDirectory(
                registry_store, domain=settings.domain, default=settings.default_registry
            ),
            oauth=OAuthService(
                policy,
                keys,
                federation=federation,
                access_seconds=settings.access_token_seconds,
                refresh_seconds=settings.refresh_token_seconds,
            ),
            keys=keys,
            database=db,
            driver=driver,
        )
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_sweep_uploads, uploads, settings.upload_sweep_seconds)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
        if federation is not None:
            await federation.aclose()
        await driver.close()
        await db.close()

    return Starlette(
        routes=routes(),
        exception_handlers=exception_handlers(),
        middleware=[Middleware(RegistryHeaders, access_log=settings.access_log)],
        lifespan=lifespan,
    )


def _anonymous_registry(settings: Settings) -> str | None:
    """The registry open to anonymous push and pull: the default one, on loopback only."""
    if settings.anonymous_loopback and settings.listens_on_loopback():
        return settings.default_registry
    return None


def _federation(settings: Settings) -> FederatedVerifier | None:
    """The verifier of trusted issuers' tokens, if any issuer is trusted."""
    if not settings.trusted_issuers:
        return None
    return FederatedVerifier(
        [
            TrustedIssuer(
                issuer=trusted.issuer,
                audience=trusted.audience,
                jwks_file=trusted.jwks_file,
                jwks_url=trusted.jwks_url,
                groups_claim=trusted.groups_claim,
                tenant=trusted.tenant,
            )
            for trusted in settings.trusted_issuers
        ]
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
