"""`python -m benchmarks.gc`: one garbage collection over N manifests while pushes go on.

Set-up (untimed, in a child process so that its memory does not count): a registry in
which N images were pushed — each a unique config and layer plus its repository's shared
base layer — into N/1000 repositories, and then most of them deleted (`--deleted`, 80% by
default), all two hours ago. The rows are bulk-inserted (with exact storage counters) and
the bytes written straight to the filesystem driver's layout: pushing 100,000 images through
the API would take longer than everything measured here.

Measured: one collection (grace period 60 minutes, as the server runs it) while a loop keeps
pushing small images through the services (UploadService, BlobService, ManifestService) in
the same event loop, as the server's scheduled collector would share it with requests. The
report: wall time, peak RSS of the process (resource.getrusage) and its baseline before the
collection, links and blobs removed against the numbers expected, and pushes completed while
the collection ran (every push must succeed, and every pushed image must read back whole).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from portside.config import Settings
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.migrate import upgrade
from portside.metadata.repositories import RepositoryStore
from portside.metadata.schema import (
    blobs,
    manifest_blobs,
    manifests,
    registries,
    registry_blobs,
    repositories,
    repository_blobs,
    tags,
)
from portside.oci import media_types as mt
from portside.oci.digests import Digest
from portside.runtime import Runtime
from portside.services.content.manifests import Reference
from portside.services.content.targets import Target
from portside.storage.filesystem import FilesystemDriver
from portside.storage.layout import blob_key

console = Console(stderr=True)
BATCH = 5000
GRACE = timedelta(minutes=60)
# What the collection and the pushes run with: the grace above, uploads that expire in an hour.
SETTINGS = Settings(gc_grace_minutes=GRACE.total_seconds() / 60, upload_expiry_hours=1)
AGE = timedelta(hours=2)


@dataclass
class Result:
    """What one run measured."""

    manifests: int
    manifests_deleted: int
    database: str
    seconds: float
    rss_before_mib: float
    rss_peak_mib: float
    links_removed: int
    links_expected: int
    blobs_removed: int
    blobs_expected: int
    bytes_freed: int
    pushes_during: int
    pushes_failed: int
    push_p50_ms: float
    push_max_ms: float
    populate_seconds: float = 0.0
    cpu_seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class PhaseClock:
    """Times each phase of a collection (a GcProgress that only watches the clock)."""

    def __init__(self, started: float) -> None:
        self.seconds: dict[str, float] = {}
        self._phase = "forecast"
        self._at = started

    def begin(self, phase: str, total: int) -> None:
        """The previous phase ended now."""
        self.lap()
        self._phase = phase

    def advance(self, count: int) -> None:
        """Nothing to time."""

    def lap(self) -> None:
        """Close the current phase."""
        now = time.monotonic()
        self.seconds[self._phase] = self.seconds.get(self._phase, 0.0) + now - self._at
        self._at = now


def image_body(config: bytes, layers: list[bytes]) -> bytes:
    """The OCI image manifest of a config and layers."""

    def descriptor(media_type: str, data: bytes) -> dict[str, object]:
        return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data)}

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", x) for x in layers],
        }
    ).encode()


def repository_name(index: int) -> str:
    """The name of repository `index`."""
    return f"bench/repo{index:04d}"


def base_layer(repository: int) -> bytes:
    """The layer every image of a repository shares."""
    return f"base layer of repository {repository}".encode() * 4


def kept(number: int, count: int, deleted: float) -> bool:
    """Whether image `number` of `count` is still there (each repository keeps its first)."""
    keep_every = max(1, round(1 / (1 - deleted))) if deleted < 1 else 0
    return number < max(1, count // 1000) or bool(keep_every and number % keep_every == 0)


def populate(url: str, root: Path, count: int, deleted: float) -> None:
    """Bulk-insert `count` images (`deleted` of them since deleted) and write their bytes."""
    upgrade(url)
    asyncio.run(_populate(url, root, count, deleted))


async def _populate(url: str, root: Path, count: int, deleted: float) -> None:
    db = Database(url)
    try:
        registry = await RepositoryStore(db).ensure_registry("default")
        then = utcnow() - AGE
        repo_count = max(1, count // 1000)
        repo_ids: list[int] = []
        async with db.engine.begin() as conn:
            for index in range(repo_count):
                repo_ids.append(
                    await conn.scalar(
                        insert(repositories)
                        .values(
                            registry_id=registry.id,
                            name=repository_name(index),
                            created_at=then,
                            updated_at=then,
                            tags_version=secrets.randbits(62),
                        )
                        .returning(repositories.c.id)
                    )
                )
        files: dict[str, bytes] = {}
        blob_rows: list[dict[str, object]] = []
        link_rows: list[dict[str, object]] = []
        repo_bytes = dict.fromkeys(repo_ids, 0)

        def add_blob(repo_id: int, data: bytes) -> str:
            digest = str(Digest.of(data))
            if digest not in files:
                files[digest] = data
                blob_rows.append({"digest": digest, "size": len(data), "created_at": then})
            link_rows.append(
                {"repository_id": repo_id, "digest": digest, "created_at": then, "touched_at": then}
            )
            repo_bytes[repo_id] += len(data)
            return digest

        for index, repo_id in enumerate(repo_ids):
            add_blob(repo_id, base_layer(index))
        manifest_rows: list[dict[str, object]] = []
        references: list[tuple[int, list[str]]] = []
        for number in range(count):
            repo_index = number % repo_count
            repo_id = repo_ids[repo_index]
            config = f'{{"image": {number}, "note": "benchmark config"}}'.encode()
            layer = f"layer of image {number}: ".encode() + bytes(64)
            digests = [add_blob(repo_id, config), add_blob(repo_id, layer)]
            if kept(number, count, deleted):
                body = image_body(config, [base_layer(repo_index), layer])
                manifest_rows.append(
                    {
                        "repository_id": repo_id,
                        "digest": str(Digest.of(body)),
                        "media_type": mt.OCI_MANIFEST,
                        "size": len(body),
                        "body": body,
                        "created_at": then,
                    }
                )
                references.append(
                    (len(manifest_rows) - 1, [*digests, str(Digest.of(base_layer(repo_index)))])
                )
        async with db.engine.begin() as conn:
            for table, rows in ((blobs, blob_rows), (repository_blobs, link_rows)):
                for start in range(0, len(rows), BATCH):
                    await conn.execute(insert(table), rows[start : start + BATCH])
            ids: list[int] = []
            for start in range(0, len(manifest_rows), BATCH):
                chunk = manifest_rows[start : start + BATCH]
                result = await conn.execute(
                    insert(manifests).returning(manifests.c.id, sort_by_parameter_order=True), chunk
                )
                ids.extend(row[0] for row in result)
            ref_rows = [
                {"manifest_id": ids[position], "digest": digest}
                for position, digests in references
                for digest in digests
            ]
            tag_rows = [
                {
                    "repository_id": manifest_rows[position]["repository_id"],
                    "name": f"v{position}",
                    "manifest_id": ids[position],
                    "created_at": then,
                    "updated_at": then,
                }
                for position, _ in references
            ]
            for table, rows in ((manifest_blobs, ref_rows), (tags, tag_rows)):
                for start in range(0, len(rows), BATCH):
                    await conn.execute(insert(table), rows[start : start + BATCH])
            for start in range(0, len(blob_rows), BATCH):
                await conn.execute(
                    insert(registry_blobs),
                    [
                        {"registry_id": registry.id, "digest": row["digest"], "links": 1}
                        for row in blob_rows[start : start + BATCH]
                    ],
                )
            for repo_id, size in repo_bytes.items():
                await conn.execute(
                    repositories.update()
                    .where(repositories.c.id == repo_id)
                    .values(storage_bytes=size)
                )
            total = sum(len(data) for data in files.values())
            await conn.execute(
                registries.update()
                .where(registries.c.id == registry.id)
                .values(storage_bytes=total)
            )
    finally:
        await db.close()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda item: _write(root, *item), files.items(), chunksize=512))


def _write(root: Path, digest: str, data: bytes) -> None:
    path = root / blob_key(Digest.parse(digest))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _cpu_seconds() -> float:
    """User and system CPU time of this process so far (the collector, the pushes, SQLite)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Pusher:
    """Pushes small images, one after another, until stopped; keeps what it pushed."""

    def __init__(self, runtime: Runtime, repo_count: int) -> None:
        self.uploads = runtime.uploads
        self.blobs = runtime.blobs
        self.manifests = runtime.manifests
        self.repo_count = repo_count
        self.pushed: list[tuple[Target, str, bytes, bytes, int]] = []
        self.failures: list[str] = []
        self.latencies: list[tuple[float, float]] = []  # (finished at, seconds)
        self.first = asyncio.Event()
        self.stop = False

    async def run(self, registry_id: int) -> None:
        """Push until `stop` is set."""
        rng = random.Random(7)
        number = 0
        while not self.stop:
            number += 1
            repo_index = rng.randrange(self.repo_count)
            target = Target(registry_id, repository_name(repo_index))
            config = f'{{"pushed during gc": {number}}}'.encode()
            layer = secrets.token_bytes(256)
            started = time.monotonic()
            try:
                for data in (config, layer):
                    await self.uploads.upload_whole(target, Digest.of(data), _once(data))
                await self.blobs.stat(target, Digest.of(base_layer(repo_index)))  # "exists"
                body = image_body(config, [base_layer(repo_index), layer])
                await self.manifests.put(
                    target, Reference(tag=f"pushed{number}"), body, mt.OCI_MANIFEST
                )
            except Exception as exc:  # every push must succeed: report, do not hide
                self.failures.append(f"push {number}: {type(exc).__name__}: {exc}")
                continue
            finished = time.monotonic()
            self.latencies.append((finished, finished - started))
            self.pushed.append((target, str(Digest.of(body)), config, layer, repo_index))
            self.first.set()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def measure(url: str, root: Path, count: int, deleted: float, phases: bool) -> Result:
    """Run the collection with pushes going on; check what it left."""
    db, pusher_db = Database(url), Database(url)
    driver = FilesystemDriver(root)
    try:
        registry = await RepositoryStore(db).ensure_registry("default")
        gone = sum(not kept(number, count, deleted) for number in range(count))
        # The server's wiring: the pusher and the collector each on a connection pool of its own.
        pusher = Pusher(Runtime(SETTINGS, database=pusher_db, driver=driver), max(1, count // 1000))
        collector = Runtime(SETTINGS, database=db, driver=driver).collector
        task = asyncio.create_task(pusher.run(registry.id))
        await pusher.first.wait()
        rss_before = _rss_mib()
        started, cpu = time.monotonic(), _cpu_seconds()
        clock = PhaseClock(started) if phases else None
        report = await collector.collect(progress=clock)
        ended, cpu = time.monotonic(), _cpu_seconds() - cpu
        if clock is not None:
            clock.lap()
        pusher.stop = True
        await task
        during = [seconds for at, seconds in pusher.latencies if started <= at <= ended]
        errors = list(pusher.failures)
        for target, digest, config, layer, repo_index in pusher.pushed:
            record = await pusher.manifests.get(target, Reference(digest=Digest.parse(digest)))
            for data in (config, layer, base_layer(repo_index)):
                got = b"".join([c async for c in driver.read(blob_key(Digest.of(data)))])
                if got != data or record is None:
                    errors.append(f"image {digest} in {target.repository} lost {Digest.of(data)}")
        return Result(
            manifests=count,
            manifests_deleted=gone,
            database="sqlite" if db.is_sqlite else "postgresql",
            seconds=ended - started,
            rss_before_mib=rss_before,
            rss_peak_mib=_rss_mib(),
            links_removed=report.links_removed,
            links_expected=2 * gone,  # each deleted image's config and layer
            blobs_removed=report.blobs_removed,
            blobs_expected=2 * gone,
            bytes_freed=report.bytes_freed,
            pushes_during=len(during),
            pushes_failed=len(pusher.failures),
            push_p50_ms=1000 * statistics.median(during) if during else 0.0,
            push_max_ms=1000 * max(during) if during else 0.0,
            cpu_seconds=cpu,
            phases=clock.seconds if clock is not None else {},
            errors=errors,
        )
    finally:
        await db.close()
        await pusher_db.close()


def run(count: int, deleted: float, work: Path, url: str | None, phases: bool = False) -> Result:
    """Populate (child process), then measure (this process)."""
    database_url = url or f"sqlite+aiosqlite:///{work / 'portside.db'}"
    root = work / "blobs"
    started = time.monotonic()
    child = multiprocessing.get_context("spawn").Process(
        target=populate, args=(database_url, root, count, deleted)
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"populating failed (exit code {child.exitcode})")
    populated = time.monotonic() - started
    console.log(f"populated {count:,} manifests in {populated:.1f} s; collecting")
    result = asyncio.run(measure(database_url, root, count, deleted, phases))
    result.populate_seconds = populated
    return result


def table(result: Result) -> Table:
    """The result as a two-column table."""
    out = Table(title=f"Garbage collection over {result.manifests:,} manifests ({result.database})")
    out.add_column("measure")
    out.add_column("value", justify="right")
    out.add_row(
        "manifests pushed / deleted", f"{result.manifests:,} / {result.manifests_deleted:,}"
    )
    out.add_row("collection wall time", f"{result.seconds:.1f} s")
    # On a loaded machine the wall time mostly measures the wait for a core.
    out.add_row("CPU time of the process meanwhile", f"{result.cpu_seconds:.1f} s")
    out.add_row(
        "peak RSS (before the collection)",
        f"{result.rss_peak_mib:.0f} MiB ({result.rss_before_mib:.0f} MiB)",
    )
    out.add_row("links removed (expected)", f"{result.links_removed:,} ({result.links_expected:,})")
    out.add_row("blobs removed (expected)", f"{result.blobs_removed:,} ({result.blobs_expected:,})")
    out.add_row("bytes freed", f"{result.bytes_freed:,}")
    out.add_row(
        "pushes completed during it (failed)", f"{result.pushes_during:,} ({result.pushes_failed})"
    )
    out.add_row(
        "push latency during it: median / max",
        f"{result.push_p50_ms:.0f} / {result.push_max_ms:.0f} ms",
    )
    for phase, seconds in result.phases.items():
        out.add_row(f"  phase {phase}", f"{seconds:.1f} s")
    out.add_row("populate (untimed)", f"{result.populate_seconds:.0f} s")
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=100_000, help="images pushed (N)")
    parser.add_argument("--deleted", type=float, default=0.8, help="fraction since deleted")
    parser.add_argument("--database-url", help="default: SQLite in the work directory")
    parser.add_argument("--work-dir", type=Path, help="default: a temporary directory")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--phases",
        action="store_true",
        help="also time each phase (the collection then counts its work first, as portside gc"
        " does for its progress bars: the forecast phase)",
    )
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="portside-gc-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args.manifests, args.deleted, work, args.database_url, args.phases)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    Console().print(table(result))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    if result.errors:
        for error in result.errors[:20]:
            console.print(f"[red]{error}")
        sys.exit(1)


if __name__ == "__main__":
    main()
