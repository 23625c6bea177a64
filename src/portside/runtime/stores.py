"""`Stores`: one of each metadata store over one database, shared by every service."""

from __future__ import annotations

from dataclasses import dataclass

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.blobs import BlobStore
from portside.metadata.cache_rules import CacheRuleStore
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.metadata.gc import CollectorStore
from portside.metadata.leases import LeaseStore
from portside.metadata.manifests import ManifestStore
from portside.metadata.principals import RoleAssignmentStore, ServicePrincipalStore
from portside.metadata.pruning import PruneStore
from portside.metadata.recycle_bin import RecycleBinStore
from portside.metadata.registries import RegistryStore
from portside.metadata.replication import ReplicationStore
from portside.metadata.repositories import RepositoryStore
from portside.metadata.restore import RestoreStore
from portside.metadata.retention import RetentionStore
from portside.metadata.scope_maps import ScopeMapStore, TokenStore
from portside.metadata.signing_keys import SigningKeyStore
from portside.metadata.tags import TagStore
from portside.metadata.trusted_issuers import TrustedIssuerStore
from portside.metadata.uploads import UploadStore
from portside.metadata.usage_reads import UsageStore
from portside.metadata.webhook_events import WebhookEventStore
from portside.metadata.webhooks import WebhookStore
from portside.services.access.policy import AccessStores
from portside.services.lifecycle.service import LifecycleStores

__all__ = ["Stores"]


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of the metadata database. A store holds nothing but the database, so one
    of each serves every service of a process."""

    registries: RegistryStore
    repositories: RepositoryStore
    blobs: BlobStore
    uploads: UploadStore
    manifests: ManifestStore
    tags: TagStore
    artifacts: ArtifactStore
    credentials: CredentialStore
    tokens: TokenStore
    scope_maps: ScopeMapStore
    principals: ServicePrincipalStore
    roles: RoleAssignmentStore
    signing_keys: SigningKeyStore
    usage: UsageStore
    retention: RetentionStore
    prune: PruneStore
    recycle_bin: RecycleBinStore
    restore: RestoreStore
    collector: CollectorStore
    leases: LeaseStore
    trusted_issuers: TrustedIssuerStore
    webhooks: WebhookStore
    webhook_events: WebhookEventStore
    cache_rules: CacheRuleStore
    replication: ReplicationStore

    @classmethod
    def over(cls, db: Database) -> Stores:
        """One of each store over `db`."""
        return cls(
            registries=RegistryStore(db),
            repositories=RepositoryStore(db),
            blobs=BlobStore(db),
            uploads=UploadStore(db),
            manifests=ManifestStore(db),
            tags=TagStore(db),
            artifacts=ArtifactStore(db),
            credentials=CredentialStore(db),
            tokens=TokenStore(db),
            scope_maps=ScopeMapStore(db),
            principals=ServicePrincipalStore(db),
            roles=RoleAssignmentStore(db),
            signing_keys=SigningKeyStore(db),
            usage=UsageStore(db),
            retention=RetentionStore(db),
            prune=PruneStore(db),
            recycle_bin=RecycleBinStore(db),
            restore=RestoreStore(db),
            collector=CollectorStore(db),
            leases=LeaseStore(db),
            trusted_issuers=TrustedIssuerStore(db),
            webhooks=WebhookStore(db),
            webhook_events=WebhookEventStore(db),
            cache_rules=CacheRuleStore(db),
            replication=ReplicationStore(db),
        )

    def access(self) -> AccessStores:
        """The stores an access decision (and the management API) reads."""
        return AccessStores(
            registries=self.registries,
            credentials=self.credentials,
            tokens=self.tokens,
            scope_maps=self.scope_maps,
            principals=self.principals,
            roles=self.roles,
        )

    def lifecycle(self) -> LifecycleStores:
        """The stores the lifecycle service works on."""
        return LifecycleStores(
            registries=self.registries,
            retention=self.retention,
            prune=self.prune,
            recycle_bin=self.recycle_bin,
            restore=self.restore,
            leases=self.leases,
        )
