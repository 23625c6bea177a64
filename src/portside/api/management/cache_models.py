"""Bodies of the cache rule routes (camelCase, as ARM writes ACR's cache rules)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from portside.api.management.models import ApiModel
from portside.metadata.cache_rules import CacheRuleRecord
from portside.services.imports.cache_rules import MAX_TTL_SECONDS, CacheRuleSpec

__all__ = ["CacheRule", "CacheRuleCreate", "CacheRuleUpdate"]

_Repo = Field(min_length=1, max_length=300)
_Ttl = Field(
    None, ge=0, le=MAX_TTL_SECONDS, description="Seconds before a cached tag is re-checked."
)
_CredentialSet = Field(None, max_length=50)


class CacheRuleCreate(ApiModel):
    """POST /registries/{name}/cacheRules."""

    name: str = Field(min_length=1, max_length=50)
    source_repository: str = _Repo
    target_repository: str = _Repo
    credential_set: str | None = _CredentialSet
    ttl_seconds: int | None = _Ttl
    allow_push: bool = False

    def spec(self) -> CacheRuleSpec:
        """What the service is asked for."""
        return CacheRuleSpec(
            self.source_repository,
            self.target_repository,
            self.credential_set,
            self.ttl_seconds,
            self.allow_push,
        )


class CacheRuleUpdate(ApiModel):
    """PATCH /registries/{name}/cacheRules/{rule}: fields given replace the stored ones; an
    empty `credentialSet` removes it."""

    credential_set: str | None = _CredentialSet
    ttl_seconds: int | None = _Ttl
    allow_push: bool | None = None

    def spec(self) -> CacheRuleSpec:
        """What the service is asked for."""
        return CacheRuleSpec(
            credential_set=self.credential_set or None,
            ttl_seconds=self.ttl_seconds,
            allow_push=self.allow_push,
            clear_credential_set=self.credential_set == "",
        )


class CacheRule(ApiModel):
    """A cache rule."""

    name: str
    source_repository: str
    target_repository: str
    credential_set: str | None
    ttl_seconds: int
    allow_push: bool
    creation_date: datetime
    last_modified: datetime

    @classmethod
    def of(cls, record: CacheRuleRecord) -> CacheRule:
        """From a rule record."""
        return cls(
            name=record.name,
            source_repository=record.source_repo,
            target_repository=record.target_repo,
            credential_set=record.credential_set,
            ttl_seconds=record.ttl_seconds,
            allow_push=record.allow_push,
            creation_date=record.created_at,
            last_modified=record.updated_at,
        )
