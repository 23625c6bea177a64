"""Tables of access control: service principals, role assignments, scope maps, tokens,
credentials, signing keys and trusted OIDC issuers (see docs/access-control.md)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sql_false
from sqlalchemy import true as sql_true

from portside.metadata.columns import UTCDateTime, metadata

__all__ = [
    "credentials",
    "role_assignments",
    "scope_maps",
    "service_principals",
    "signing_keys",
    "tokens",
    "trusted_issuers",
    "versions",
]

service_principals = Table(
    "service_principals",
    metadata,
    # The application id: a UUID, used as the user name.
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

role_assignments = Table(
    "role_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    # "sp" (a service principal id), "subject" or "group" (claims of a federated token).
    Column("principal_type", String(16), nullable=False),
    # The trusted issuer (`iss`) a subject or group belongs to: their names are only unique
    # per issuer. "" for service principals, and for federated assignments that predate
    # issuers and could not be bound to one (they match nobody: see docs/access-control.md).
    Column("issuer", String(255), nullable=False, server_default=""),
    Column("principal", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    # "*" for the whole registry, else a repository name or `prefix/*`.
    Column("repositories", String(300), nullable=False, server_default="*"),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "registry_id", "principal_type", "issuer", "principal", "role", "repositories"
    ),
    Index("ix_role_assignments_principal", "principal_type", "principal"),
)

scope_maps = Table(
    "scope_maps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    # JSON list of ACR action strings: `repositories/<pattern>/content/read`.
    Column("actions", Text, nullable=False),
    Column("system", Boolean, nullable=False, server_default=sql_false()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", ForeignKey("registries.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("scope_map_id", ForeignKey("scope_maps.id"), nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=sql_true()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("registry_id", "name"),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # "admin" (owner: the registry id), "token" (a token id), "sp" (a service principal id) or
    # "deployment" (owner: "admin", the management API's administrator).
    Column("owner_type", String(16), nullable=False),
    Column("owner_id", String(64), nullable=False),
    # "password"/"password2" (admin user), "password1"/"password2" (tokens), a secret id (sp).
    Column("name", String(64), nullable=False),
    Column("hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    UniqueConstraint("owner_type", "owner_id", "name"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(8), nullable=False),
    # Shared by every node so that any node verifies what another signed. Protect the database
    # (and its backups) as you would the key itself.
    Column("private_pem", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Set when a newer key took over signing; the key still verifies until it is removed.
    Column("retired_at", UTCDateTime),
)

trusted_issuers = Table(
    "trusted_issuers",
    metadata,
    # The short, URL-safe name the management API and the CLI address it by.
    Column("name", String(64), primary_key=True),
    # The `iss` its tokens carry: trusted once, whether here or in the configuration file.
    Column("issuer", String(255), nullable=False, unique=True),
    Column("audience", String(255), nullable=False),
    # Where its keys are published, or the JWKS document itself (exactly one is set).
    Column("jwks_url", String(2048)),
    Column("jwks", Text),
    Column("groups_claim", String(128), nullable=False, server_default="groups"),
    Column("tenant", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Portal sign-in (authorization code + PKCE): the OAuth client id registered at the
    # issuer (set: the sign-in page offers this issuer), and its client secret, if the
    # issuer wants one, sealed with the deployment key (`portal_secret_key` names that key).
    Column("portal_client_id", String(255)),
    Column("portal_secret_sealed", LargeBinary),
    Column("portal_secret_key", String(64)),
)

versions = Table(
    "versions",
    metadata,
    # Deployment-wide change counters that every node reads to know its cache is stale:
    # "trusted_issuers" moves on every change to that table.
    Column("name", String(32), primary_key=True),
    Column("value", Integer, nullable=False, server_default="0"),
)
