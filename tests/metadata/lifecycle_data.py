"""Manifests with real bodies (images, indexes, referrers) for the lifecycle tests, and a few
reads of the rows those tests check."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.manifests import ManifestStore, NewManifest
from portside.metadata.repositories import RepositoryStore
from portside.metadata.retention import LifecyclePolicy, RetentionStore
from portside.metadata.schema import (
    deleted_manifests,
    manifests,
    registries,
    repositories,
    repository_blobs,
    tags,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "sha256:" + "c" * 64
LAYER = "sha256:" + "1" * 64
SIZES = {CONFIG: 10, LAYER: 1000}


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def image(n: int, subject: NewManifest | None = None) -> NewManifest:
    """The n-th distinct image (config and layer shared); a referrer of `subject` if given."""
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": CONFIG,
            "size": SIZES[CONFIG],
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": LAYER,
                "size": SIZES[LAYER],
            }
        ],
        "annotations": {"n": str(n)},
    }
    if subject is not None:
        doc["subject"] = {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": len(subject.body),
        }
    body = json.dumps(doc).encode()
    return NewManifest(
        digest=_digest(body),
        media_type=OCI_MANIFEST,
        artifact_type="application/vnd.oci.image.config.v1+json",
        body=body,
        subject=None if subject is None else subject.digest,
        annotations={"n": str(n)},
        blobs=(CONFIG, LAYER),
        children=(),
    )


def index(n: int, children: list[NewManifest]) -> NewManifest:
    """An image index over `children`."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": c.media_type, "digest": c.digest, "size": len(c.body)} for c in children
        ],
        "annotations": {"n": str(n)},
    }
    body = json.dumps(doc).encode()
    return NewManifest(
        digest=_digest(body),
        media_type=OCI_INDEX,
        artifact_type=None,
        body=body,
        subject=None,
        annotations={"n": str(n)},
        blobs=(),
        children=tuple(c.digest for c in children),
    )


@dataclass
class Registry:
    """A registry with repository `app` holding the shared blobs, and its stores."""

    db: Database
    id: int
    manifests: ManifestStore

    async def push(self, new: NewManifest, tag: str | None = None, repository: str = "app") -> None:
        """Store a manifest (with `tag`); fails if a reference is missing."""
        assert await self.manifests.put(self.id, repository, new, tag) == []

    async def link(self, repository: str) -> None:
        """Link the shared blobs into another repository."""
        for digest, size in SIZES.items():
            await BlobStore(self.db).add(self.id, repository, digest, size)

    async def policy(self, **settings: object) -> None:
        """Set the registry's lifecycle policies."""
        await RetentionStore(self.db).set_policy(self.id, LifecyclePolicy(**settings))  # type: ignore[arg-type]

    async def digests(self, repository: str = "app") -> set[str]:
        """The digests of the manifests in the repository."""
        async with self.db.read() as conn:
            found = await conn.scalars(
                select(manifests.c.digest)
                .join(repositories, repositories.c.id == manifests.c.repository_id)
                .where(repositories.c.registry_id == self.id, repositories.c.name == repository)
            )
            return set(found.all())

    async def tags(self, repository: str = "app") -> dict[str, str]:
        """Tag name -> digest in the repository."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(tags.c.name, manifests.c.digest)
                .join(manifests, manifests.c.id == tags.c.manifest_id)
                .join(repositories, repositories.c.id == tags.c.repository_id)
                .where(repositories.c.registry_id == self.id, repositories.c.name == repository)
            )
            return {row[0]: row[1] for row in rows.all()}

    async def untagged_at(self, digest: str) -> datetime | None:
        """When the manifest (in any repository) lost its last tag."""
        async with self.db.read() as conn:
            value = await conn.scalar(
                select(manifests.c.untagged_at).where(manifests.c.digest == digest)
            )
            assert value is None or isinstance(value, datetime)
            return value

    async def age(self, digest: str, when: datetime) -> None:
        """Pretend the manifest lost its last tag at `when`."""
        async with self.db.write() as conn:
            await conn.execute(
                update(manifests).where(manifests.c.digest == digest).values(untagged_at=when)
            )

    async def bin_count(self) -> int:
        """Entries in the recycle bin."""
        async with self.db.read() as conn:
            return int(await conn.scalar(select(func.count()).select_from(deleted_manifests)) or 0)

    async def storage(self, repository: str = "app") -> tuple[int, int, int]:
        """(registry bytes, repository bytes or -1, blob links of the repository)."""
        async with self.db.read() as conn:
            total = await conn.scalar(
                select(registries.c.storage_bytes).where(registries.c.id == self.id)
            )
            row = (
                await conn.execute(
                    select(repositories.c.id, repositories.c.storage_bytes).where(
                        repositories.c.registry_id == self.id, repositories.c.name == repository
                    )
                )
            ).first()
            if row is None:
                return int(total or 0), -1, 0
            links = await conn.scalar(
                select(func.count())
                .select_from(repository_blobs)
                .where(repository_blobs.c.repository_id == row[0])
            )
            return int(total or 0), int(row[1]), int(links or 0)


async def registry(db: Database, name: str = "default") -> Registry:
    """A registry whose repository `app` holds the shared blobs."""
    record = await RepositoryStore(db).ensure_registry(name)
    found = Registry(db, record.id, ManifestStore(db))
    await found.link("app")
    return found
