"""Bodies of the credential-set routes (camelCase, as ARM writes ACR's credential sets)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from portside.api.management.models import ApiModel
from portside.services.imports.credential_sets import (
    MASK,
    MAX_PASSWORD,
    MAX_USERNAME,
    CredentialSetSpec,
    CredentialSetView,
)

__all__ = ["CredentialSet", "CredentialSetCreate", "CredentialSetUpdate"]


class CredentialSetCreate(ApiModel):
    """POST /registries/{name}/credentialSets."""

    name: str = Field(min_length=5, max_length=50)
    login_server: str = Field(min_length=1, max_length=255)
    username: str = Field(min_length=1, max_length=MAX_USERNAME)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD, repr=False)

    def spec(self) -> CredentialSetSpec:
        """What the service is asked for."""
        return CredentialSetSpec(self.login_server, self.username, self.password)


class CredentialSetUpdate(ApiModel):
    """PATCH /registries/{name}/credentialSets/{set}: fields given replace the stored ones."""

    login_server: str | None = Field(None, min_length=1, max_length=255)
    username: str | None = Field(None, min_length=1, max_length=MAX_USERNAME)
    password: str | None = Field(None, min_length=1, max_length=MAX_PASSWORD, repr=False)

    def spec(self) -> CredentialSetSpec:
        """What the service is asked for."""
        return CredentialSetSpec(self.login_server, self.username, self.password)


class CredentialSet(ApiModel):
    """A credential set: its password is never shown, only `*****`."""

    name: str
    login_server: str
    username: str
    password: str = MASK
    creation_date: datetime
    last_modified: datetime

    @classmethod
    def of(cls, view: CredentialSetView) -> CredentialSet:
        """From the service's view (which has no password)."""
        return cls(
            name=view.name,
            login_server=view.login_server,
            username=view.username,
            creation_date=view.created_at,
            last_modified=view.updated_at,
        )
