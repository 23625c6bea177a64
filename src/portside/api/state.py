"""What the data-plane handlers hold while the application runs: their view of the Runtime
(portside/runtime), built by `create_app` in its lifespan and passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import Request

from portside.auth.policy import Grant
from portside.metadata.database import Database
from portside.metadata.records import RegistryRecord
from portside.services.access.hosts import RegistryDirectory
from portside.services.access.oauth import OAuthService
from portside.services.access.policy import AccessPolicy
from portside.services.access.signing import KeyRing
from portside.services.content.artifacts import ArtifactService
from portside.services.content.blobs import BlobService
from portside.services.content.listings import ListingService
from portside.services.content.manifests import ManifestService
from portside.services.content.uploads import UploadService
from portside.storage.base import StorageDriver

__all__ = ["AppState", "app_state", "grant_of", "registry_of"]


@dataclass(slots=True)
class AppState:
    """Services and policy shared by all requests of one process."""

    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    listings: ListingService
    artifacts: ArtifactService
    policy: AccessPolicy
    directory: RegistryDirectory
    oauth: OAuthService
    keys: KeyRing
    database: Database
    driver: StorageDriver
    # Behind a proxy that terminates TLS: take the scheme of challenges from X-Forwarded-Proto.
    trust_forwarded_proto: bool = False


def app_state(request: Request) -> AppState:
    """The running application's state."""
    return cast(AppState, request.app.state.portside)


def registry_of(request: Request) -> RegistryRecord:
    """The registry this request addresses (set by the access step)."""
    return cast(RegistryRecord, request.state.registry)


def grant_of(request: Request) -> Grant:
    """What the caller was granted (set by the access step)."""
    return cast(Grant, request.state.grant)
