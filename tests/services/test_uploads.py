"""Upload rules that do not need HTTP: resuming without hash state, expiry, verification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from portside.metadata.blobs import BlobStore
from portside.metadata.database import Database
from portside.metadata.repositories import RepositoryStore
from portside.metadata.uploads import UploadStore
from portside.oci.digests import Digest, Hasher
from portside.oci.errors import DigestInvalid
from portside.services.content.targets import Target
from portside.services.content.uploads import UploadService
from portside.services.errors import BlobUploadUnknown
from portside.storage.filesystem import FilesystemDriver

pytestmark = pytest.mark.anyio


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    """An async stream of parts."""
    for part in parts:
        yield part


def service(db: Database, root: Path, expiry: timedelta = timedelta(hours=24)) -> UploadService:
    """An upload service, as each process has its own."""
    return UploadService(BlobStore(db), UploadStore(db), FilesystemDriver(root), expiry=expiry)


async def target(db: Database) -> Target:
    """The default registry's `app` repository."""
    registry = await RepositoryStore(db).ensure_registry("default")
    return Target(registry.id, "app")


async def test_chunks_on_different_processes_still_verify(db: Database, tmp_path: Path) -> None:
    where = await target(db)
    first, second = service(db, tmp_path / "s"), service(db, tmp_path / "s")
    status = await first.start(where)
    await first.append(where, status.id, chunks(b"hello "))
    await second.append(where, status.id, chunks(b"wor"))
    size = await first.finish(where, status.id, Digest.of(b"hello world"), chunks(b"ld"))
    assert size == 11
    assert await BlobStore(db).linked_size(where.registry_id, "app", str(Digest.of(b"hello world")))


async def test_hash_state_travels_with_the_session(db: Database, tmp_path: Path) -> None:
    where = await target(db)
    uploads = service(db, tmp_path / "s")
    status = await uploads.start(where)
    await uploads.append(where, status.id, chunks(b"hello "))
    record = await UploadStore(db).get(where.registry_id, "app", status.id)
    assert record is not None and record.hashed_size == 6
    # The stored state continues the digest: proof that no rehash from storage is needed.
    assert record.hash_state is not None
    resumed = Hasher.restore("sha256", record.hash_state)
    resumed.update(b"world")
    assert resumed.digest() == Digest.of(b"hello world")


async def test_stale_hash_state_falls_back_to_storage(db: Database, tmp_path: Path) -> None:
    where = await target(db)
    uploads = service(db, tmp_path / "s")
    status = await uploads.start(where)
    await uploads.append(where, status.id, chunks(b"hello "))
    # Bytes appended behind the service's back (a crash after writing, before saving state).
    (tmp_path / "s" / "uploads" / status.id).write_bytes(b"hello world")
    digest = Digest.of(b"hello world")
    assert await uploads.finish(where, status.id, digest, None) == 11


async def test_sha512_upload_rehashes_with_the_right_algorithm(
    db: Database, tmp_path: Path
) -> None:
    where = await target(db)
    uploads = service(db, tmp_path / "s")
    status = await uploads.start(where)
    await uploads.append(where, status.id, chunks(b"data"))
    digest = Digest.of(b"data", "sha512")
    assert await uploads.finish(where, status.id, digest, None) == 4


async def test_digest_mismatch_discards_the_session(db: Database, tmp_path: Path) -> None:
    where = await target(db)
    uploads = service(db, tmp_path / "s")
    status = await uploads.start(where)
    with pytest.raises(DigestInvalid):
        await uploads.finish(where, status.id, Digest.of(b"other"), chunks(b"data"))
    with pytest.raises(BlobUploadUnknown):
        await uploads.status(where, status.id)
    assert (
        await BlobStore(db).linked_size(where.registry_id, "app", str(Digest.of(b"data"))) is None
    )


async def test_idle_sessions_expire_with_their_bytes(db: Database, tmp_path: Path) -> None:
    where = await target(db)
    uploads = service(db, tmp_path / "s", expiry=timedelta(seconds=0))
    status = await uploads.start(where)
    with pytest.raises(BlobUploadUnknown):
        await uploads.status(where, status.id)  # already past its expiry
    assert await uploads.expire_idle() == 1
    assert not (tmp_path / "s" / "uploads" / status.id).exists()
    assert await uploads.expire_idle() == 0


async def test_active_sessions_do_not_expire(db: Database, tmp_path: Path) -> None:
    where = await target(db)
    uploads = service(db, tmp_path / "s", expiry=timedelta(hours=1))
    status = await uploads.start(where)
    assert await uploads.expire_idle() == 0
    assert (await uploads.status(where, status.id)).size == 0
