"""Rows as frozen values: what stores return to services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "CredentialRecord",
    "LockFlags",
    "ManifestAttributes",
    "ManifestRecord",
    "ReferrerRecord",
    "RegistryQuotas",
    "RegistryRecord",
    "RepositoryAttributes",
    "RepositoryDeletion",
    "RoleAssignmentRecord",
    "ScopeMapRecord",
    "ServicePrincipalRecord",
    "SigningKeyRecord",
    "TagAttributes",
    "TokenRecord",
    "UploadRecord",
]


@dataclass(frozen=True, slots=True)
class RegistryQuotas:
    """A registry's own limits; None takes its SKU's default (metadata/usage.py)."""

    storage_bytes: int | None = None
    repositories: int | None = None
    tokens: int | None = None
    scope_maps: int | None = None
    webhooks: int | None = None

    def override(self, quota: str) -> int | None:
        """The override of `quota` (`storage_bytes`, `repositories`, ...), or None."""
        value = getattr(self, quota)
        assert value is None or isinstance(value, int)
        return value


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """A registry (tenant); `storage_bytes` counts each distinct blob it links once;
    `login_slot` places its loopback login server (services/access/hosts.py)."""

    id: int
    name: str
    sku: str = "Standard"
    admin_enabled: bool = False
    anonymous_pull: bool = False
    immutable_tags: bool = False
    auth_version: int = 0
    created_at: datetime | None = None
    storage_bytes: int = 0
    quotas: RegistryQuotas = RegistryQuotas()
    # Random and never reused (`id` may be): what tokens name the registry by.
    uid: str = ""
    login_slot: int | None = None
    # Request rate limit overrides per minute: None takes the SKU's default, 0 is unlimited
    # (services/access/throttling.py).
    read_ops_per_minute: int | None = None
    write_ops_per_minute: int | None = None


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    """A stored manifest with its bytes."""

    id: int
    digest: str
    media_type: str
    size: int
    body: bytes


@dataclass(frozen=True, slots=True)
class ReferrerRecord:
    """A manifest whose subject is some digest, as the referrers API lists it."""

    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """An upload session in a repository."""

    id: str
    repository_id: int
    created_at: datetime
    updated_at: datetime
    hashed_size: int
    hash_state: bytes | None


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """A stored secret (as its argon2id hash) of an admin user, token or service principal."""

    id: int
    owner_type: str
    owner_id: str
    name: str
    hash: str
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class ServicePrincipalRecord:
    """A deployment-wide application identity; its id is its user name."""

    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RoleAssignmentRecord:
    """A role given to a principal in one registry, optionally narrowed to repositories.

    `issuer` is the trusted issuer a federated subject or group belongs to ("" for a service
    principal, and for an old federated assignment never bound to one: it matches nobody).
    """

    id: int
    registry_id: int
    principal_type: str
    principal: str
    role: str
    repositories: str
    created_at: datetime
    issuer: str = ""


@dataclass(frozen=True, slots=True)
class ScopeMapRecord:
    """A named set of ACR actions (`repositories/<pattern>/content/read`, ...)."""

    id: int
    registry_id: int
    name: str
    description: str
    actions: tuple[str, ...]
    system: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A repository-scoped token: a user name bound to a scope map."""

    id: int
    registry_id: int
    name: str
    scope_map: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """A token-signing key as stored (shared by every node)."""

    kid: str
    algorithm: str
    private_pem: bytes = field(repr=False)
    created_at: datetime
    retired_at: datetime | None


@dataclass(frozen=True, slots=True)
class LockFlags:
    """ACR's changeable attributes of a repository, manifest or tag (all true by default)."""

    delete_enabled: bool = True
    write_enabled: bool = True
    read_enabled: bool = True
    list_enabled: bool = True


@dataclass(frozen=True, slots=True)
class RepositoryAttributes:
    """A repository as ACR's metadata API describes it (`storage_bytes`: Portside's own)."""

    name: str
    created_at: datetime
    updated_at: datetime
    manifest_count: int
    tag_count: int
    flags: LockFlags
    storage_bytes: int = 0


@dataclass(frozen=True, slots=True)
class TagAttributes:
    """A tag with the digest it names, its times and its flags."""

    name: str
    digest: str
    created_at: datetime
    updated_at: datetime
    flags: LockFlags


@dataclass(frozen=True, slots=True)
class ManifestAttributes:
    """A manifest with its bytes, the total size of the blobs it references, and its tags."""

    digest: str
    media_type: str
    size: int
    blob_size: int
    body: bytes
    created_at: datetime
    tags: tuple[str, ...]
    flags: LockFlags


@dataclass(frozen=True, slots=True)
class RepositoryDeletion:
    """What went with a deleted repository: its manifests, tags and upload sessions.

    Not a recycle-bin entry: that is recycle_bin.DeletedRepository.
    """

    manifests: tuple[str, ...]
    tags: tuple[str, ...]
    uploads: tuple[str, ...]
