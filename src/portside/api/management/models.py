"""Request and response bodies of the management API: camelCase JSON, as ARM writes it.

Secret values (`value` of a password or secret) appear only in the answers of the calls that
generate them; `null` fields are left out of answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from portside.api.management.fields import (
    Count,
    Days,
    ResourceName,
    ScopeMapName,
    TokenStatus,
)
from portside.metadata.records import ScopeMapRecord
from portside.services.management.context import SecretInfo
from portside.services.management.registries import AdminCredentials, RegistryView
from portside.services.management.scope_maps import MAX_ACTIONS
from portside.services.management.tokens import TokenView

__all__ = [
    "ApiModel",
    "ErrorBody",
    "LoginResult",
    "Password",
    "PasswordRenew",
    "Registry",
    "RegistryCreate",
    "RegistryCredentials",
    "RegistryUpdate",
    "Repository",
    "RepositoryActions",
    "RepositoryUpdate",
    "ScopeMap",
    "ScopeMapCreate",
    "ScopeMapUpdate",
    "Token",
    "TokenCreate",
    "TokenCredentials",
    "TokenPasswordGenerate",
    "TokenUpdate",
]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown request fields are refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @classmethod
    def from_record(cls, record: object, **others: object) -> Self:
        """Fields from `others`, the rest from `record`'s attributes of the same name."""
        copied = {name: getattr(record, name) for name in cls.model_fields if name not in others}
        return cls.model_validate({**copied, **others})


class ErrorDetail(ApiModel):
    """What went wrong: a stable code and a message for people."""

    code: str
    message: str


class ErrorBody(ApiModel):
    """Every error answer: `{"error": {"code": ..., "message": ...}}`."""

    error: ErrorDetail


class Password(ApiModel):
    """A stored secret: `value` only in the answer that generated it."""

    name: str
    value: str | None = None
    creation_date_time: datetime
    expiry: datetime | None = None

    @classmethod
    def of(cls, info: SecretInfo) -> Password:
        """From the service's view of a secret."""
        return cls(
            name=info.name,
            value=info.value,
            creation_date_time=info.created_at,
            expiry=info.expires_at,
        )


class RegistryCreate(ApiModel):
    """POST /registries."""

    name: str = ResourceName
    sku: str = Field("Standard", max_length=16)
    admin_user_enabled: bool = False
    anonymous_pull_enabled: bool = False
    immutable_tags_enabled: bool = False


class RegistryUpdate(ApiModel):
    """PATCH /registries/{name}: only the fields given change; a quota set to `null` goes
    back to the SKU's default."""

    sku: str | None = Field(None, max_length=16)
    admin_user_enabled: bool | None = None
    anonymous_pull_enabled: bool | None = None
    immutable_tags_enabled: bool | None = None
    quota_storage_bytes: int | None = Field(None, ge=0, le=(1 << 63) - 1)
    quota_repositories: int | None = Count
    quota_tokens: int | None = Count
    quota_scope_maps: int | None = Count
    quota_webhooks: int | None = Count
    read_ops_per_minute: int | None = Field(
        None, ge=0, le=(1 << 31) - 1, description="null: the SKU's; 0: unlimited."
    )
    write_ops_per_minute: int | None = Field(
        None, ge=0, le=(1 << 31) - 1, description="null: the SKU's; 0: unlimited."
    )

    def rates(self) -> dict[str, int | None]:
        """The rate limit overrides given (`null` too), by setting name."""
        return {
            field: getattr(self, field)
            for field in ("read_ops_per_minute", "write_ops_per_minute")
            if field in self.model_fields_set
        }

    def quotas(self) -> dict[str, int | None]:
        """The quota overrides given (`null` too), by quota name (`storage_bytes`, ...)."""
        return {
            field[len("quota_") :]: getattr(self, field)
            for field in sorted(self.model_fields_set)
            if field.startswith("quota_")
        }


class Registry(ApiModel):
    """A registry. `passwords` only when admin passwords were just generated."""

    name: str
    login_server: str = Field(
        description="Where clients reach it: `NAME.<domain>[:port]`, or `127.0.0.1:<port>` "
        "(its loopback login server) while the server listens on loopback only; the default "
        "registry is the server's own address."
    )
    sku: str
    admin_user_enabled: bool
    anonymous_pull_enabled: bool
    immutable_tags_enabled: bool
    creation_date: datetime | None = None
    default: bool = Field(description="The server's default registry (its own address).")
    storage_bytes: int = Field(description="Bytes of distinct blobs (shared layers once).")
    quota_storage_bytes: int | None = None
    quota_repositories: int | None = None
    quota_tokens: int | None = None
    quota_scope_maps: int | None = None
    quota_webhooks: int | None = None
    read_ops_per_minute: int | None = Field(
        None, description="Override of the reads per minute (null: the SKU's; 0: unlimited)."
    )
    write_ops_per_minute: int | None = Field(
        None, description="Override of the writes per minute (null: the SKU's; 0: unlimited)."
    )
    read_ops_per_minute_limit: int | None = Field(
        None, description="The reads (GET, HEAD) per minute allowed now (null: unlimited)."
    )
    write_ops_per_minute_limit: int | None = Field(
        None, description="The writes per minute allowed now (null: unlimited)."
    )
    passwords: list[Password] | None = None

    @classmethod
    def of(cls, view: RegistryView) -> Registry:
        """From the service's view of a registry (quotas: overrides only, see /usage)."""
        record = view.record
        quotas = record.quotas
        return cls(
            name=record.name,
            login_server=view.login_server,
            sku=record.sku,
            admin_user_enabled=record.admin_enabled,
            anonymous_pull_enabled=record.anonymous_pull,
            immutable_tags_enabled=record.immutable_tags,
            creation_date=record.created_at,
            default=view.default,
            storage_bytes=record.storage_bytes,
            quota_storage_bytes=quotas.storage_bytes,
            quota_repositories=quotas.repositories,
            quota_tokens=quotas.tokens,
            quota_scope_maps=quotas.scope_maps,
            quota_webhooks=quotas.webhooks,
            read_ops_per_minute=record.read_ops_per_minute,
            write_ops_per_minute=record.write_ops_per_minute,
            read_ops_per_minute_limit=view.rate_limits.read,
            write_ops_per_minute_limit=view.rate_limits.write,
            passwords=[Password.of(p) for p in view.passwords] or None,
        )


class RegistryCredentials(ApiModel):
    """The admin user: no password values (only hashes are stored), except after renew."""

    username: str
    admin_user_enabled: bool
    passwords: list[Password]

    @classmethod
    def of(cls, credentials: AdminCredentials) -> RegistryCredentials:
        """From the service's view of the admin user."""
        return cls(
            username=credentials.username,
            admin_user_enabled=credentials.enabled,
            passwords=[Password.of(p) for p in credentials.passwords],
        )


class PasswordRenew(ApiModel):
    """POST /registries/{name}/credentials/renew."""

    name: Literal["password", "password2"]


class RepositoryActions(ApiModel):
    """A repository and actions on it (`content/read`, ...), as `--repository REPO ACTION...`."""

    repository: str = Field(min_length=1, max_length=300)
    actions: list[str] = Field(min_length=1, max_length=5)


class TokenCreate(ApiModel):
    """POST /registries/{name}/tokens: a scope map, or repositories (a map is made for them)."""

    name: str = ResourceName
    scope_map: str | None = ScopeMapName
    repositories: list[RepositoryActions] = Field(default_factory=list, max_length=MAX_ACTIONS)
    status: TokenStatus = "enabled"
    expiration_in_days: int | None = Days
    no_passwords: bool = False


class TokenUpdate(ApiModel):
    """PATCH /registries/{name}/tokens/{token}."""

    scope_map: str | None = ScopeMapName
    status: TokenStatus | None = None


class TokenPasswordGenerate(ApiModel):
    """POST /registries/{name}/tokens/{token}/credentials."""

    name: Literal["password1", "password2"]
    expiration_in_days: int | None = Days


class TokenCredentials(ApiModel):
    """A token's passwords."""

    passwords: list[Password]


class Token(ApiModel):
    """A token: bound to a scope map, enabled or disabled."""

    name: str
    scope_map: str
    status: TokenStatus
    creation_date: datetime
    credentials: TokenCredentials

    @classmethod
    def of(cls, view: TokenView) -> Token:
        """From the service's view of a token."""
        record = view.record
        return cls(
            name=record.name,
            scope_map=record.scope_map,
            status="enabled" if record.enabled else "disabled",
            creation_date=record.created_at,
            credentials=TokenCredentials(passwords=[Password.of(p) for p in view.passwords]),
        )


class ScopeMapCreate(ApiModel):
    """POST /registries/{name}/scope-maps."""

    name: str = ResourceName
    actions: list[str] = Field(max_length=MAX_ACTIONS)
    description: str = Field("", max_length=256)


class ScopeMapUpdate(ApiModel):
    """PATCH /registries/{name}/scope-maps/{map}."""

    add_actions: list[str] = Field(default_factory=list, max_length=MAX_ACTIONS)
    remove_actions: list[str] = Field(default_factory=list, max_length=MAX_ACTIONS)
    description: str | None = Field(None, max_length=256)


class ScopeMap(ApiModel):
    """A scope map: `SystemDefined` (every registry has three) or `UserDefined`."""

    name: str
    description: str
    actions: list[str]
    type: Literal["SystemDefined", "UserDefined"]
    creation_date: datetime

    @classmethod
    def of(cls, record: ScopeMapRecord) -> ScopeMap:
        """From a scope-map record."""
        return cls(
            name=record.name,
            description=record.description,
            actions=list(record.actions),
            type="SystemDefined" if record.system else "UserDefined",
            creation_date=record.created_at,
        )


class RepositoryUpdate(ApiModel):
    """PATCH /registries/{name}/repositories/{repository}."""

    anonymous_pull_enabled: bool


class Repository(ApiModel):
    """A repository's management settings."""

    registry: str
    name: str
    anonymous_pull_enabled: bool


class LoginResult(ApiModel):
    """A refresh token for `docker login -u 00000000-0000-0000-0000-000000000000`."""

    login_server: str
    refresh_token: str
