"""Rows as frozen values: what stores return to services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ManifestRecord", "ReferrerRecord", "RegistryRecord", "UploadRecord"]


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """A registry (tenant)."""

    id: int
    name: str


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
