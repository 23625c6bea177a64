"""Bodies of the import routes (camelCase; ACR's `targetTags` and `mode` kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from portside.api.management.models import ApiModel
from portside.metadata.imports import ImportJobRecord
from portside.services.imports.credential_sets import MAX_PASSWORD, MAX_USERNAME
from portside.services.imports.imports import MAX_TARGETS, ImportRequest

__all__ = ["ImportCreate", "ImportJob", "JobFailure"]


class ImportCreate(ApiModel):
    """POST /registries/{name}/imports."""

    source: str = Field(min_length=1, max_length=600)
    target_tags: list[str] = Field(default_factory=list, max_length=MAX_TARGETS)
    source_registry: str | None = Field(None, min_length=1, max_length=64)
    credential_set: str | None = Field(None, min_length=1, max_length=50)
    username: str | None = Field(None, min_length=1, max_length=MAX_USERNAME)
    password: str | None = Field(None, min_length=1, max_length=MAX_PASSWORD, repr=False)
    mode: Literal["NoForce", "Force"] = "NoForce"
    platform: str | None = Field(None, max_length=100)
    with_referrers: bool = False

    def request(self) -> ImportRequest:
        """What the service is asked for."""
        return ImportRequest(
            source=self.source,
            targets=tuple(t for t in self.target_tags if t),
            source_registry=self.source_registry,
            credential_set=self.credential_set,
            username=self.username,
            password=self.password,
            force=self.mode == "Force",
            platform=self.platform,
            with_referrers=self.with_referrers,
        )


class JobFailure(ApiModel):
    """Why a job failed."""

    code: str
    message: str


class ImportJob(ApiModel):
    """An import job: where it stands, what it did or why it failed."""

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    bytes_done: int
    bytes_total: int
    request: dict[str, Any]
    result: dict[str, Any] | None = None
    error: JobFailure | None = None
    creation_date: datetime
    last_updated: datetime
    finished: datetime | None = None

    @classmethod
    def of(cls, job: ImportJobRecord) -> ImportJob:
        """From a job record."""
        failed = job.error is not None or job.error_code is not None
        return cls(
            id=job.id,
            status=job.status,
            bytes_done=job.bytes_done,
            bytes_total=job.bytes_total,
            request=job.request,
            result=job.result,
            error=JobFailure(code=job.error_code or "Failed", message=job.error or "")
            if failed
            else None,
            creation_date=job.created_at,
            last_updated=job.updated_at,
            finished=job.finished_at,
        )
