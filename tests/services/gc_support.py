"""A registry's services over one database and one storage driver, and the collector's
invariant: every manifest's blobs are linked in its repository, recorded, and readable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.schema import (
    blobs,
    manifest_blobs,
    manifests,
    registries,
    registry_blobs,
    repositories,
    repository_blobs,
)
from portside.oci import media_types as mt
from portside.oci.digests import Digest
from portside.runtime import Runtime
from portside.services.content.manifests import Reference
from portside.services.content.targets import Target
from portside.storage.base import StorageDriver
from portside.storage.errors import ObjectNotFound
from portside.storage.layout import blob_key

__all__ = [
    "Node",
    "chunks",
    "image_manifest",
    "invariant_violations",
    "layers_of",
    "manifest_body",
]


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    """An async stream of parts."""
    for part in parts:
        yield part


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    """An OCI image manifest referencing `config` and `layers` by digest."""
    return manifest_body(config, [(str(Digest.of(layer)), len(layer)) for layer in layers])


def manifest_body(config: bytes, layers: list[tuple[str, int]]) -> bytes:
    """An OCI image manifest referencing `config` and layers given as (digest, size)."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n}
                for d, n in layers
            ],
        }
    ).encode()


def layers_of(body: bytes) -> list[tuple[str, int]]:
    """(digest, size) of an image manifest's layers."""
    return [(layer["digest"], layer["size"]) for layer in json.loads(body)["layers"]]


@dataclass
class Node:
    """One Portside process: its own stores and services over a shared database and driver."""

    db: Database
    driver: StorageDriver
    grace: timedelta = timedelta(0)
    pause: float | None = None

    def __post_init__(self) -> None:
        # model_copy, not the constructor: these tests use a grace period of 0, which a
        # configuration may not (gc_grace_minutes > 0).
        settings = Settings(upload_expiry_hours=1).model_copy(
            update={"gc_grace_minutes": self.grace.total_seconds() / 60}
        )
        self.runtime = Runtime(settings, database=self.db, driver=self.driver)
        self.blob_store = self.runtime.stores.blobs
        self.uploads = self.runtime.uploads
        self.blobs = self.runtime.blobs
        self.manifests = self.runtime.manifests
        self.collector = self.runtime.garbage_collector(grace=self.grace, pause=self.pause)

    async def target(self, repository: str, registry: str = "default") -> Target:
        """The repository inside the registry (created on first use)."""
        record = await self.runtime.stores.repositories.ensure_registry(registry)
        return Target(record.id, repository)

    async def upload(self, target: Target, data: bytes) -> Digest:
        """Upload one blob monolithically."""
        digest = Digest.of(data)
        await self.uploads.upload_whole(target, digest, chunks(data))
        return digest

    async def push_image(
        self, target: Target, config: bytes, layers: list[bytes], tag: str | None
    ) -> Digest:
        """Upload the config and layers, then push the manifest (by tag, or by digest)."""
        for data in [config, *layers]:
            await self.upload(target, data)
        return await self.put_manifest(target, config, layers, tag)

    async def put_manifest(
        self, target: Target, config: bytes, layers: list[bytes], tag: str | None
    ) -> Digest:
        """Push the manifest of an image whose blobs should already be there."""
        return await self.put_body(target, image_manifest(config, layers), tag)

    async def put_body(self, target: Target, body: bytes, tag: str | None) -> Digest:
        """Push a manifest (by tag, or by digest)."""
        reference = Reference(tag=tag) if tag else Reference(digest=Digest.of(body))
        pushed = await self.manifests.put(target, reference, body, mt.OCI_MANIFEST)
        return pushed.digest


async def invariant_violations(db: Database, driver: StorageDriver) -> list[str]:
    """Everything wrong with the state the collector must keep (an empty list if none).

    Every blob a manifest references is linked in the manifest's repository, has a row and
    has its bytes (read back and hashed); the storage counters equal a recomputation.
    """
    problems: list[str] = []
    async with db.read() as conn:
        referenced = (
            await conn.execute(
                select(manifests.c.repository_id, manifest_blobs.c.digest, manifests.c.digest)
                .join(manifests, manifests.c.id == manifest_blobs.c.manifest_id)
                .distinct()
            )
        ).all()
        links = set(
            (
                await conn.execute(
                    select(repository_blobs.c.repository_id, repository_blobs.c.digest)
                )
            ).all()
        )
        rows = dict((await conn.execute(select(blobs.c.digest, blobs.c.size))).all())
        repo_bytes = dict(
            (await conn.execute(select(repositories.c.id, repositories.c.storage_bytes))).all()
        )
        registry_bytes = dict(
            (await conn.execute(select(registries.c.id, registries.c.storage_bytes))).all()
        )
        link_counts = dict(
            ((registry, digest), count)
            for registry, digest, count in await conn.execute(
                select(
                    registry_blobs.c.registry_id, registry_blobs.c.digest, registry_blobs.c.links
                )
            )
        )
        repo_registry = dict(
            (await conn.execute(select(repositories.c.id, repositories.c.registry_id))).all()
        )
        total = await conn.scalar(select(func.count()).select_from(repository_blobs))
    checked: set[str] = set()
    for repository_id, digest, manifest_digest in referenced:
        if (repository_id, digest) not in links:
            problems.append(f"{digest} of manifest {manifest_digest} is not linked")
        if digest not in rows:
            problems.append(f"{digest} of manifest {manifest_digest} has no blob row")
        elif digest not in checked:
            checked.add(digest)
            try:
                data = b"".join(
                    [chunk async for chunk in driver.read(blob_key(Digest.parse(digest)))]
                )
            except ObjectNotFound:
                problems.append(f"bytes of {digest} of manifest {manifest_digest} are gone")
                continue
            if str(Digest.of(data)) != digest or len(data) != rows[digest]:
                problems.append(f"bytes of {digest} do not match it")
    expected_repo: dict[int, int] = dict.fromkeys(repo_bytes, 0)
    expected_registry: dict[int, int] = dict.fromkeys(registry_bytes, 0)
    expected_links: dict[tuple[int, str], int] = {}
    for repository_id, digest in links:
        if digest not in rows:
            problems.append(f"link to {digest} without a blob row")
            continue
        if digest not in checked:
            checked.add(digest)
            try:
                await driver.stat(blob_key(Digest.parse(digest)))
            except ObjectNotFound:
                problems.append(f"linked blob {digest} has no bytes")
        expected_repo[repository_id] += rows[digest]
        key = (repo_registry[repository_id], digest)
        expected_links[key] = expected_links.get(key, 0) + 1
    for (registry_id, digest), _ in expected_links.items():
        expected_registry[registry_id] += rows[digest]
    if repo_bytes != expected_repo:
        problems.append(f"repository bytes {repo_bytes} != recomputed {expected_repo}")
    if registry_bytes != expected_registry:
        problems.append(f"registry bytes {registry_bytes} != recomputed {expected_registry}")
    if link_counts != expected_links:
        problems.append(f"registry_blobs {link_counts} != recomputed {expected_links}")
    assert total == len(links)
    return problems
