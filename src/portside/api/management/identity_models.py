"""Request and response bodies of the identity routes: service principals, role assignments
and signing keys (camelCase JSON, as models.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from portside.api.management.fields import Days, Name, RepositoryPattern
from portside.api.management.models import ApiModel, Password
from portside.auth.algorithms import Algorithm
from portside.services.management.identities import RoleAssignmentView, ServicePrincipalView

__all__ = [
    "KeyRotate",
    "RoleAssignment",
    "RoleAssignmentCreate",
    "SecretAdd",
    "ServicePrincipal",
    "ServicePrincipalCreate",
    "SigningKey",
]


class ServicePrincipalCreate(ApiModel):
    """POST /service-principals."""

    name: str = Name
    expiration_in_days: int | None = Days


class SecretAdd(ApiModel):
    """POST /service-principals/{id}/credentials: add a secret (with `reset`, replace all)."""

    expiration_in_days: int | None = Days
    reset: bool = False


class ServicePrincipal(ApiModel):
    """A service principal: its `id` is the user name; secret values only when created."""

    id: str
    name: str
    creation_date: datetime
    secrets: list[Password]

    @classmethod
    def of(cls, view: ServicePrincipalView) -> ServicePrincipal:
        """From the service's view of a service principal."""
        return cls(
            id=view.record.id,
            name=view.record.name,
            creation_date=view.record.created_at,
            secrets=[Password.of(s) for s in view.secrets],
        )


class RoleAssignmentCreate(ApiModel):
    """POST /registries/{name}/role-assignments (`issuer`: of a subject or group)."""

    role: str = Field(max_length=32)
    assignee: str = Field(min_length=1, max_length=255)
    assignee_type: Literal["sp", "subject", "group"] = "sp"
    repositories: str = RepositoryPattern
    issuer: str | None = Field(None, min_length=1, max_length=255)


class RoleAssignment(ApiModel):
    """A role held by an assignee (of `issuer`, if federated) over `*`, `repo` or `prefix/*`."""

    id: int
    registry: str
    role: str
    assignee: str
    assignee_type: str
    issuer: str | None
    repositories: str
    creation_date: datetime

    @classmethod
    def of(cls, view: RoleAssignmentView) -> RoleAssignment:
        """From the service's view of an assignment."""
        record = view.record
        return cls(
            id=record.id,
            registry=view.registry,
            role=record.role,
            assignee=record.principal,
            assignee_type=record.principal_type,
            issuer=record.issuer or None,
            repositories=record.repositories,
            creation_date=record.created_at,
        )


class KeyRotate(ApiModel):
    """POST /signing-keys/rotate."""

    algorithm: Algorithm | None = None


class SigningKey(ApiModel):
    """The key that signs tokens from now on."""

    kid: str
