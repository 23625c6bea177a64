"""Bodies of the replication routes (camelCase, as ARM writes ACR's replications)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from portside.api.management.models import ApiModel
from portside.metadata.replication import ReplicationRecord
from portside.services.replication.service import ImageStatus, LocationStatus

__all__ = [
    "Replication",
    "ReplicationCreate",
    "ReplicationLocationStatus",
    "ReplicationStatus",
    "ReplicationUpdate",
]


class ReplicationCreate(ApiModel):
    """POST /registries/{name}/replications."""

    location: str = Field(min_length=1, max_length=63)
    region_endpoint_enabled: bool = True


class ReplicationUpdate(ApiModel):
    """PATCH /registries/{name}/replications/{location}."""

    region_endpoint_enabled: bool


class Replication(ApiModel):
    """A location the registry is replicated to."""

    location: str
    region_endpoint_enabled: bool
    provisioning_state: str = "Succeeded"
    created_at: datetime

    @classmethod
    def of(cls, record: ReplicationRecord) -> Replication:
        """The API's view of a replication."""
        return cls(
            location=record.location,
            region_endpoint_enabled=record.region_endpoint_enabled,
            created_at=record.created_at,
        )


class ReplicationLocationStatus(ApiModel):
    """One location's share of a status."""

    location: str
    region_endpoint_enabled: bool
    storage: str
    complete: bool
    blobs: int
    present: int
    pending_bytes: int
    failing: int
    last_error: str | None = None

    @classmethod
    def of(cls, status: LocationStatus) -> ReplicationLocationStatus:
        """The API's view of a location's status."""
        return cls(
            location=status.location,
            region_endpoint_enabled=status.region_endpoint_enabled,
            storage=status.storage,
            complete=status.complete,
            blobs=status.blobs,
            present=status.present,
            pending_bytes=status.pending_bytes,
            failing=status.failing,
            last_error=status.last_error,
        )


class ReplicationStatus(ApiModel):
    """An image's (or the registry's backlog's) status per location."""

    registry: str
    image: str | None = None
    locations: list[ReplicationLocationStatus]

    @classmethod
    def of(cls, status: ImageStatus) -> ReplicationStatus:
        """The API's view of a status."""
        return cls(
            registry=status.registry,
            image=status.image,
            locations=[ReplicationLocationStatus.of(one) for one in status.locations],
        )
