"""Table definitions. Schema changes go through Alembic revisions in metadata/migrations.

registries ─< repositories ─< repository_blobs >─ blobs
    │             │
    │             ├─< manifests ─< manifest_blobs      (digests a manifest references)
    │             │       │     └─< manifest_children   (manifests an index references)
    │             │       └── subject_digest            (the referrers index)
    │             ├─< tags >─ manifests
    │             └─< uploads
    ├─< registry_blobs                (how many of its repositories link each blob)
    ├─< scope_maps ─< tokens          (repository-scoped tokens)
    ├─< role_assignments              (service principals, federated subjects and groups)
    ├─< credentials                   (argon2id hashes: admin user, tokens; service principal
    │                                  secrets and the deployment administrator have no registry)
    ├─< retention_rules
    ├─< deleted_manifests ─< deleted_manifest_blobs   (the recycle bin, by repository name)
    ├─< deleted_tags
    ├─< webhooks ─< webhook_events    (the outbox of deliveries)
    │           ─< regional_events   (push events held until complete in a location)
    ├─< credential_sets               (upstream credentials, the password sealed)
    ├─< import_jobs
    ├─< cache_rules ─< cache_tag_checks  (pull-through rules; when a cached tag was checked)
    ├─< request_counts                (requests per time window, for rate limits)
    └─< replications                  (locations it is replicated to; blobs ─< blob_locations)
service_principals, signing_keys, trusted_issuers,    (deployment-wide)
versions, leases, deployment_keys, login_failures, portal_sessions
portal_sessions ─ portal_directory_sessions, portal_signin_states   (directory sign-in)
audit_log                             (by registry uid, no foreign key: outlives registries)

content.py holds registries and what they contain, access.py who may do what, lifecycle.py
retention, the recycle bin and job leases, events.py webhooks and their outbox, imports.py
credential sets, deployment keys and import jobs, throttling.py request counts and failed
logins, audit.py the audit log. Every table is registered on the one `metadata`
(metadata/columns.py) when its module is imported, and this package imports them all: that
`metadata` is complete once `schema` is imported is what Alembic's env.py and the migration
tests rely on.
"""

from __future__ import annotations

from portside.metadata.columns import metadata
from portside.metadata.schema.access import (
    credentials,
    role_assignments,
    scope_maps,
    service_principals,
    signing_keys,
    tokens,
    trusted_issuers,
    versions,
)
from portside.metadata.schema.audit import audit_log
from portside.metadata.schema.cache import cache_rules, cache_tag_checks
from portside.metadata.schema.content import (
    blobs,
    manifest_blobs,
    manifest_children,
    manifests,
    registries,
    registry_blobs,
    repositories,
    repository_blobs,
    tags,
    uploads,
)
from portside.metadata.schema.events import webhook_events, webhooks
from portside.metadata.schema.imports import credential_sets, deployment_keys, import_jobs
from portside.metadata.schema.lifecycle import (
    deleted_manifest_blobs,
    deleted_manifests,
    deleted_tags,
    leases,
    retention_rules,
)
from portside.metadata.schema.portal import portal_sessions
from portside.metadata.schema.portal_directory import (
    portal_directory_sessions,
    portal_signin_states,
)
from portside.metadata.schema.regional import regional_events
from portside.metadata.schema.replication import blob_locations, replications
from portside.metadata.schema.throttling import login_failures, request_counts

__all__ = [
    "audit_log",
    "blob_locations",
    "blobs",
    "cache_rules",
    "cache_tag_checks",
    "credential_sets",
    "credentials",
    "deleted_manifest_blobs",
    "deleted_manifests",
    "deleted_tags",
    "deployment_keys",
    "import_jobs",
    "leases",
    "login_failures",
    "manifest_blobs",
    "manifest_children",
    "manifests",
    "metadata",
    "portal_directory_sessions",
    "portal_sessions",
    "portal_signin_states",
    "regional_events",
    "registries",
    "registry_blobs",
    "replications",
    "repositories",
    "repository_blobs",
    "request_counts",
    "retention_rules",
    "role_assignments",
    "scope_maps",
    "service_principals",
    "signing_keys",
    "tags",
    "tokens",
    "trusted_issuers",
    "uploads",
    "versions",
    "webhook_events",
    "webhooks",
]
