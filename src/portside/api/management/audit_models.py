"""Bodies of the audit log routes (camelCase, a page as ARM lists: `value` and `nextLink`)."""

from __future__ import annotations

from datetime import datetime

from portside.api.management.models import ApiModel
from portside.metadata.audit import AuditRecord

__all__ = ["AuditEntryModel", "AuditPageModel"]


class AuditEntryModel(ApiModel):
    """One record: when, where, who, what, and how it ended."""

    id: int
    time: datetime
    registry: str
    identity_kind: str
    identity: str
    client: str
    action: str
    target: str
    outcome: str
    status: int
    request_id: str

    @classmethod
    def of(cls, record: AuditRecord) -> AuditEntryModel:
        """The wire form of a stored record."""
        e = record.entry
        return cls(
            id=record.id,
            time=e.at,
            registry=e.registry,
            identity_kind=e.identity_kind,
            identity=e.identity_id,
            client=e.client,
            action=e.action,
            target=e.target,
            outcome=e.outcome,
            status=e.status,
            request_id=e.request_id,
        )


class AuditPageModel(ApiModel):
    """A page of records, newest first; `nextLink` continues after it (absent: the last)."""

    value: list[AuditEntryModel]
    next_link: str | None = None
