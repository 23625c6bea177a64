"""Managing service principals (deployment-wide) and role assignments (per registry).

A service principal is an application identity: its id (a UUID) is its user name and its
secrets are stored as hashes only; `create` and `add_secret` return a secret's value once.
A role assignment gives a principal (a service principal, a federated subject or group) one
of the built-in roles in a registry, over every repository (`*`), one, or a `prefix/*`. A
federated subject or group is named with its trusted issuer (names are only unique per
issuer); with exactly one issuer trusted, that one is the default.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from portside.auth.permissions import ROLES, PatternError, RepositoryPattern
from portside.metadata.records import RoleAssignmentRecord, ServicePrincipalRecord
from portside.services.management.context import (
    ManagementContext,
    SecretInfo,
    check_text,
    expiry_after,
)
from portside.services.management.errors import Invalid, NotFound

__all__ = [
    "ASSIGNEE_TYPES",
    "FEDERATED_TYPES",
    "MAX_SECRETS",
    "PrincipalManagement",
    "RoleAssignmentView",
    "ServicePrincipalView",
    "canonical_principal_id",
]

ASSIGNEE_TYPES = ("sp", "subject", "group")
"""Who a role may be assigned to: a service principal id, a federated subject or group."""

FEDERATED_TYPES = frozenset({"subject", "group"})
"""Assignee types that belong to a trusted issuer."""

MAX_SECRETS = 10
"""Most secrets one service principal may hold at a time."""


@dataclass(frozen=True, slots=True)
class ServicePrincipalView:
    """A service principal and its secrets (values only in the answer that made them)."""

    record: ServicePrincipalRecord
    secrets: tuple[SecretInfo, ...]


@dataclass(frozen=True, slots=True)
class RoleAssignmentView:
    """A role assignment with the name of its registry."""

    record: RoleAssignmentRecord
    registry: str


def canonical_principal_id(principal_id: str) -> str:
    """The canonical (lowercase, hyphenated) form of a service-principal id; "" if not a UUID.

    `uuid.UUID` reads one id in many spellings (upper case, no or moved hyphens, braces,
    `urn:`): whatever counts or names a principal uses this one."""
    try:
        return str(uuid.UUID(principal_id)) if len(principal_id) <= 36 else ""
    except ValueError:
        return ""


class PrincipalManagement:
    """Service principals, their secrets, and role assignments."""

    def __init__(
        self,
        context: ManagementContext,
        trusted_issuers: Callable[[], Awaitable[tuple[str, ...]]] | None = None,
    ) -> None:
        """Build over the shared management context; `trusted_issuers` tells the `iss` of the
        deployment's trusted OIDC issuers now (federated assignees must name one of them)."""
        self._context = context
        self._stores = context.stores
        self._trusted_issuers = trusted_issuers

    async def create(
        self, name: str, secret_expiry_days: int | None = None
    ) -> ServicePrincipalView:
        """A new service principal (id: a random UUID) with one secret, `secret1`, shown once."""
        check_text(name, "service principal name", 128, allow_empty=False)
        expires_at = expiry_after(secret_expiry_days)
        principal_id = str(uuid.uuid4())
        record = await self._stores.principals.create(principal_id, name)
        secret = await self._context.issue_secret(
            "sp", principal_id, "secret1", expires_at=expires_at
        )
        return ServicePrincipalView(record, (secret,))

    async def list(self) -> builtins.list[ServicePrincipalView]:
        """Every service principal, by name, with its secrets' names and times."""
        return [
            ServicePrincipalView(record, await self._context.secrets_of("sp", record.id))
            for record in await self._stores.principals.list()
        ]

    async def show(self, principal_id: str) -> ServicePrincipalView:
        """One service principal; NotFound if it does not exist."""
        record = await self._get(principal_id)
        return ServicePrincipalView(record, await self._context.secrets_of("sp", record.id))

    async def delete(self, principal_id: str) -> None:
        """Remove a service principal with its secrets and role assignments everywhere."""
        record = await self._get(principal_id)
        if not await self._stores.principals.delete(record.id):
            raise NotFound(f"service principal {principal_id!r} does not exist")

    async def add_secret(
        self, principal_id: str, expiry_days: int | None = None, *, reset: bool = False
    ) -> SecretInfo:
        """Add a secret (`secretN`); with `reset`, remove the others first. The value, once."""
        record = await self._get(principal_id)
        expires_at = expiry_after(expiry_days)
        if reset:
            await self._stores.credentials.remove("sp", record.id)
        names = {secret.name for secret in await self._context.secrets_of("sp", record.id)}
        if len(names) >= MAX_SECRETS:
            raise Invalid(f"a service principal holds at most {MAX_SECRETS} secrets; reset them")
        number = 1
        while f"secret{number}" in names:
            number += 1
        return await self._context.issue_secret(
            "sp", record.id, f"secret{number}", expires_at=expires_at
        )

    async def verify_secret(self, principal_id: str, secret: str) -> str | None:
        """If `principal_id` names a service principal and `secret` is one of its unexpired
        secrets (argon2id, checked in a worker thread): that secret's fingerprint."""
        canonical = canonical_principal_id(principal_id)
        if not canonical or await self._stores.principals.get(canonical) is None:
            return None
        return await self._context.matching_secret("sp", canonical, secret)

    async def assign(
        self,
        registry: str,
        role: str,
        assignee: str,
        assignee_type: str = "sp",
        repositories: str = "*",
        issuer: str | None = None,
    ) -> RoleAssignmentView:
        """Give `assignee` a role in `registry` over `repositories` (idempotent); a federated
        subject or group belongs to `issuer` (default: the only trusted issuer)."""
        record = await self._context.registry(registry)
        if role not in ROLES:
            raise Invalid(f"unknown role {role[:40]!r}: use one of {', '.join(ROLES)}")
        if assignee_type not in ASSIGNEE_TYPES:
            raise Invalid(f"assignee type must be one of {', '.join(ASSIGNEE_TYPES)}")
        check_text(assignee, "assignee", 255, allow_empty=False)
        if assignee_type == "sp":
            assignee = canonical_principal_id(assignee)
            if not assignee or await self._stores.principals.get(assignee) is None:
                raise Invalid("the assignee is not a service principal of this deployment")
        try:
            RepositoryPattern.parse(repositories)
        except PatternError as error:
            raise Invalid(f"repositories: {error}") from None
        bound = await self._issuer_of(assignee_type, issuer)
        created = await self._stores.roles.create(
            record.id, assignee_type, assignee, role, repositories, issuer=bound
        )
        return RoleAssignmentView(created, record.name)

    async def _issuer_of(self, assignee_type: str, issuer: str | None) -> str:
        """The issuer an assignee of `assignee_type` is bound to ("" for service principals)."""
        if assignee_type not in FEDERATED_TYPES:
            if issuer:
                raise Invalid("only federated subjects and groups belong to an issuer")
            return ""
        # Configured and stored issuers alike: the ones trusted now.
        trusted = () if self._trusted_issuers is None else await self._trusted_issuers()
        if not issuer:
            if len(trusted) != 1:
                raise Invalid(
                    "name the issuer of the subject or group: the deployment trusts "
                    f"{len(trusted)} issuers"
                )
            return trusted[0]
        check_text(issuer, "issuer", 255, allow_empty=False)
        if issuer not in trusted:
            raise Invalid(f"issuer {issuer[:80]!r} is not trusted by this deployment")
        return issuer

    async def assignments(
        self, registry: str | None = None, assignee: str | None = None
    ) -> builtins.list[RoleAssignmentView]:
        """Role assignments, optionally of one registry and/or one assignee."""
        if assignee is not None:
            check_text(assignee, "assignee", 255)
        names = {r.id: r.name for r in await self._stores.registries.list()}
        registry_id = None
        if registry is not None:
            registry_id = (await self._context.registry(registry)).id
        found = await self._stores.roles.list(registry_id, assignee)
        return [RoleAssignmentView(a, names.get(a.registry_id, "")) for a in found]

    async def unassign(self, registry: str, assignment_id: int) -> None:
        """Remove one role assignment of `registry`; NotFound if it has none with that id."""
        record = await self._context.registry(registry)
        if not 0 < assignment_id < 2**31 or not await self._stores.roles.delete(
            assignment_id, record.id
        ):
            raise NotFound(f"role assignment {assignment_id} does not exist in {record.name!r}")

    async def management_roles(self, registry_id: int, principal_id: str) -> frozenset[str]:
        """The roles a service principal holds over a whole registry (repositories `*`)."""
        found = await self._stores.roles.of_principals(registry_id, [("sp", principal_id)])
        return frozenset(a.role for a in found if a.repositories == "*")

    async def _get(self, principal_id: str) -> ServicePrincipalRecord:
        canonical = canonical_principal_id(principal_id)
        record = await self._stores.principals.get(canonical) if canonical else None
        if record is None:
            raise NotFound(f"service principal {principal_id[:40]!r} does not exist")
        return record
