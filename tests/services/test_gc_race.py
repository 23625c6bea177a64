"""Pushes, mounts and deletions racing the collector, many times over, on every backend.

Each iteration runs, at once, on three "nodes" (each its own Database, as separate processes
would have): image pushes (fresh layers, a shared base, and layers an earlier iteration
orphaned), a mount followed by a manifest push, a HEAD followed by a manifest push,
deletions of manifests and tags, and two collectors with no grace period at all, so that
only the in-transaction re-checks stand between them and the pushes. After each iteration
the invariant must hold: every manifest's blobs are linked in its repository, recorded, and
their bytes read back to their digest; every link's bytes exist; the counters equal a
recomputation. A push may fail because the collector removed an unreferenced link before the
manifest arrived (no grace period): that is the client-visible outcome the grace period
exists to prevent, and it never leaves a broken manifest behind.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from portside.metadata.database import Database
from portside.oci.digests import Digest
from portside.services.content.manifests import Reference
from portside.services.content.targets import Target
from portside.services.errors import BlobUnknown, ManifestBlobUnknown, ManifestUnknown
from portside.services.lifecycle.gc import CollectorBusy
from portside.storage.filesystem import FilesystemDriver
from tests.services.gc_support import Node, invariant_violations, layers_of, manifest_body

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

# Iterations per backend (about 30 s on SQLite and 20 s on PostgreSQL on a 2-core machine).
ITERATIONS = {"sqlite": 200, "postgresql": 100}
REPOSITORIES = ("app", "lib", "tools")
BASE = b"shared base layer"


class SlowCommits(FilesystemDriver):
    """Commits that linger a moment after the bytes are in place, widening the window in
    which a collector could delete them before the blob is linked (it must not)."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        super().__init__(root)
        self._rng = rng

    async def upload_commit(self, upload_id: str, key: str) -> None:
        await super().upload_commit(upload_id, key)
        await anyio.sleep(self._rng.random() * 0.002)


@dataclass
class World:
    """What the racing tasks share: pushed images, orphaned layers, and tallies."""

    rng: random.Random
    images: list[tuple[Target, Digest, str | None]] = field(default_factory=list)
    orphans: list[bytes] = field(default_factory=list)
    data: dict[str, bytes] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    serial: int = 0

    def count(self, what: str, n: int = 1) -> None:
        """Tally an outcome."""
        self.counts[what] = self.counts.get(what, 0) + n

    def fresh(self, what: str) -> bytes:
        """Bytes no earlier iteration used (remembered by digest)."""
        self.serial += 1
        data = f"{what}-{self.serial}-{self.rng.random()}".encode()
        self.data[str(Digest.of(data))] = data
        return data

    def refused(self, layers: list[bytes]) -> None:
        """A push failed because a layer was collected before its manifest came."""
        self.count("pushes refused: a layer was collected first")
        self.orphans.extend(layer for layer in layers if layer != BASE)


async def push(node: Node, world: World, target: Target, layers: list[bytes]) -> None:
    """Upload, then push a manifest (tagged or not)."""
    config = world.fresh("config")
    tag = world.rng.choice([None, "latest", f"t{world.rng.randrange(4)}"])
    try:
        for data in [config, *layers]:
            await node.upload(target, data)
            await anyio.sleep(world.rng.random() * 0.005)
        digest = await node.put_manifest(target, config, layers, tag)
    except ManifestBlobUnknown:
        world.refused(layers)
        return
    world.images.append((target, digest, tag))
    world.count("images pushed")


async def pusher(nodes: list[Node], world: World) -> None:
    """A new image: the shared base, a fresh layer, often an orphaned layer pushed again."""
    node = world.rng.choice(nodes)
    target = await node.target(world.rng.choice(REPOSITORIES))
    layers = [BASE, world.fresh("layer")]
    if world.orphans:
        layers.append(world.orphans.pop(world.rng.randrange(len(world.orphans))))
        world.count("orphaned layers pushed again")
    await push(node, world, target, layers)


async def mounter(nodes: list[Node], world: World) -> None:
    """Mount a layer of a pushed image into another repository, then push a manifest there."""
    if not world.images:
        return
    node = world.rng.choice(nodes)
    source, manifest_digest, _ = world.rng.choice(world.images)
    others = [name for name in REPOSITORIES if name != source.repository]
    target = await node.target(world.rng.choice(others))
    try:
        record = await node.manifests.get(source, Reference(digest=manifest_digest))
    except ManifestUnknown:
        return
    digest, size = layers_of(record.body)[-1]
    if await node.uploads.mount(target, Digest.parse(digest), source.repository) is None:
        world.count("mounts missed: source gone")
        return
    world.count("layers mounted")
    config = world.fresh("config")
    try:
        await node.upload(target, config)
        pushed = await node.put_body(target, manifest_body(config, [(digest, size)]), None)
    except ManifestBlobUnknown:
        world.refused([world.data.get(digest, BASE)])
        return
    world.images.append((target, pushed, None))
    world.count("images pushed")


async def header(nodes: list[Node], world: World) -> None:
    """A client that HEADs the base layer, uploads it only if missing, and pushes a manifest."""
    node = world.rng.choice(nodes)
    target = await node.target(world.rng.choice(REPOSITORIES))
    try:
        await node.blobs.stat(target, Digest.of(BASE))
        world.count("layers found by HEAD")
    except BlobUnknown:
        await node.upload(target, BASE)
    await push(node, world, target, [BASE])


async def reuser(nodes: list[Node], world: World) -> None:
    """A push that reuses a layer already in the registry: by mount, or after a HEAD."""
    await world.rng.choice([mounter, header])(nodes, world)


async def deleter(nodes: list[Node], world: World) -> None:
    """Delete manifests (their own layers become orphans) or a tag; more as images pile up."""
    for _ in range(1 + len(world.images) // 16):
        await delete_one(world.rng.choice(nodes), world)


async def delete_one(node: Node, world: World) -> None:
    """Delete a random manifest or tag."""
    if not world.images:
        return
    target, digest, tag = world.images.pop(world.rng.randrange(len(world.images)))
    try:
        if tag is not None and world.rng.random() < 0.3:
            await node.manifests.delete(target, Reference(tag=tag))
            world.count("tags deleted")
            world.images.append((target, digest, None))
            return
        record = await node.manifests.get(target, Reference(digest=digest))
        await node.manifests.delete(target, Reference(digest=digest))
    except ManifestUnknown:
        return  # deleted already (pushed twice, deleted by digest once)
    world.count("manifests deleted")
    world.orphans.extend(
        world.data[layer] for layer, _ in layers_of(record.body) if layer in world.data
    )


async def collector(nodes: list[Node], world: World) -> None:
    """A collection with no grace period; a second one at the same time finds the lease taken."""
    node = world.rng.choice(nodes)
    # Start anywhere in the iteration: between a push's uploads and its manifest, say.
    await anyio.sleep(world.rng.random() * 0.04)
    try:
        report = await node.collector.collect()
    except CollectorBusy:
        world.count("collections skipped: lease held")
        return
    world.count("collections")
    world.count("links removed", report.links_removed)
    world.count("blobs removed", report.blobs_removed)


TASKS: tuple[Callable[[list[Node], World], Awaitable[None]], ...] = (
    pusher,
    reuser,
    deleter,
    collector,
    collector,
)


async def test_pushes_and_deletes_racing_the_collector_never_lose_a_blob(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    backend = "sqlite" if db.is_sqlite else "postgresql"
    world = World(random.Random(20261127))
    driver = SlowCommits(tmp_path / "store", random.Random(1))
    databases = [Database(db_url) for _ in range(3)]
    # No pause between the collector's transactions: as aggressive as it gets.
    nodes = [Node(database, driver, pause=0) for database in databases]
    started = time.monotonic()
    iterations = 0
    try:
        while iterations < ITERATIONS[backend]:
            async with anyio.create_task_group() as tasks:
                for task in world.rng.sample(TASKS, len(TASKS)):
                    tasks.start_soon(task, nodes, world)
            iterations += 1
            problems = await invariant_violations(db, driver)
            assert problems == [], f"iteration {iterations}: {problems}"
    finally:
        for database in databases:
            await database.close()
    elapsed = time.monotonic() - started
    print(f"\n{backend}: {iterations} race iterations in {elapsed:.1f} s: {world.counts}")
    # The race was real: images were pushed, the collector freed blobs, and pushes met it.
    assert world.counts.get("images pushed", 0) > iterations
    assert world.counts.get("blobs removed", 0) > iterations
    assert world.counts.get("orphaned layers pushed again", 0) > 0
    assert world.counts.get("pushes refused: a layer was collected first", 0) > 0
