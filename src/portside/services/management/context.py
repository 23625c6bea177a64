"""What every part of the management service shares: the stores, secret hashing, checks.

Secrets are stored only as argon2id hashes. A generated secret is returned once, in the
answer of the call that created it (`SecretInfo.value`); afterwards only its name, creation
and expiry times can be shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from portside.auth.secrets import SecretHasher, new_secret
from portside.metadata.clock import utcnow
from portside.metadata.records import CredentialRecord, RegistryRecord
from portside.services.access.logins import matching_secret
from portside.services.access.policy import AccessStores
from portside.services.lifecycle.usage import UsageService, quota_exceeded_message
from portside.services.management.errors import Invalid, NotFound, QuotaReached

__all__ = [
    "MAX_EXPIRY_DAYS",
    "ManagementContext",
    "SecretInfo",
    "check_text",
    "expiry_after",
    "lookable",
]

MAX_EXPIRY_DAYS = 3650
"""Longest validity of a generated secret, in days (ten years)."""

# Control characters (NUL included, which PostgreSQL refuses in text) in free text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """A stored secret as the management API shows it: `value` only in the creating answer."""

    name: str
    created_at: datetime
    expires_at: datetime | None
    # Kept out of the repr, as the value is shown once and stored nowhere in the clear.
    value: str | None = field(default=None, repr=False)


def check_text(value: str, what: str, max_length: int, *, allow_empty: bool = True) -> str:
    """`value` if it is printable text of at most `max_length` characters; Invalid otherwise."""
    if not value and not allow_empty:
        raise Invalid(f"{what} must not be empty")
    if len(value) > max_length:
        raise Invalid(f"{what} is longer than {max_length} characters")
    if _CONTROL.search(value):
        raise Invalid(f"{what} must not contain control characters")
    return value


def lookable(name: str) -> bool:
    """True if `name` may be looked up: stored names are short and printable, and some
    databases refuse control characters (PostgreSQL: NUL) in a query's parameters."""
    return 0 < len(name) <= 64 and not _CONTROL.search(name)


def expiry_after(days: int | None) -> datetime | None:
    """When a secret valid for `days` days expires (None: never); Invalid if out of range."""
    if days is None:
        return None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise Invalid(f"expiry must be between 1 and {MAX_EXPIRY_DAYS} days")
    return utcnow() + timedelta(days=days)


def _info(record: CredentialRecord, value: str | None = None) -> SecretInfo:
    return SecretInfo(record.name, record.created_at, record.expires_at, value)


class ManagementContext:
    """The stores and the hasher, with the lookups and secret handling every part needs."""

    def __init__(self, stores: AccessStores, hasher: SecretHasher, usage: UsageService) -> None:
        """Build over the access stores, the deployment's secret hasher and usage reads."""
        self.stores = stores
        self.hasher = hasher
        self.usage = usage

    async def registry(self, name: str) -> RegistryRecord:
        """The registry called `name` (host labels are case-insensitive); NotFound otherwise."""
        record = await self.stores.registries.get(name.lower()) if lookable(name) else None
        if record is None:
            raise NotFound(f"registry {name[:64]!r} does not exist")
        return record

    async def require_room(self, record: RegistryRecord, quota: str, *, adding: int = 1) -> None:
        """QuotaReached unless the registry's count of `quota` (tokens, scope maps) plus
        `adding` stays within its limit.

        Called with `adding=1` before creating, and with `adding=0` after: a creation that a
        concurrent one pushed past the limit is undone by its caller.
        """
        limit = await self.usage.over(record, quota, adding)
        if limit is not None:
            raise QuotaReached(quota_exceeded_message(quota, limit))

    async def issue_secret(
        self,
        owner_type: str,
        owner_id: str,
        name: str,
        *,
        expires_at: datetime | None = None,
        registry_id: int | None = None,
    ) -> SecretInfo:
        """Generate a secret, store its hash (replacing any of that name), return it once."""
        value = new_secret()
        encoded = await self.hasher.hash_in_thread(value)
        record = await self.stores.credentials.put(
            owner_type, owner_id, name, encoded, expires_at=expires_at, registry_id=registry_id
        )
        return _info(record, value)

    async def secrets_of(self, owner_type: str, owner_id: str) -> tuple[SecretInfo, ...]:
        """The owner's stored secrets, by name, without values."""
        return tuple(_info(r) for r in await self.stores.credentials.of(owner_type, owner_id))

    async def matching_secret(self, owner_type: str, owner_id: str, secret: str) -> str | None:
        """The fingerprint of the owner's unexpired stored secret matching `secret`, if any
        (what tokens obtained with it are bound to; see services/access/policy.py)."""
        return await matching_secret(
            self.stores.credentials, self.hasher, owner_type, owner_id, secret
        )
