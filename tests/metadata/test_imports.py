"""The imports room's stores on every metadata backend: credential sets, deployment keys,
import jobs, and linking a blob across registries (counters exact, locks and absent sources
refused)."""

from __future__ import annotations

import pytest

from portside.metadata.artifacts import ArtifactStore
from portside.metadata.blobs import BlobStore
from portside.metadata.credential_sets import CredentialSetStore, DeploymentKeyStore
from portside.metadata.database import Database
from portside.metadata.errors import LockViolation
from portside.metadata.imports import ImportStore
from portside.metadata.registries import RegistryStore
from portside.metadata.usage_reads import UsageStore

pytestmark = pytest.mark.anyio

DIGEST = "sha256:" + "1" * 64


async def test_credential_sets_and_keys(db: Database) -> None:
    registry = await RegistryStore(db).create("creds")
    assert registry is not None
    store = CredentialSetStore(db)
    made = await store.create(registry.id, "upstream-1", "r.example", "u", b"sealed", "db-1")
    assert made is not None and made.password_sealed == b"sealed"
    assert await store.create(registry.id, "upstream-1", "x", "u", b"s", "db-1") is None
    changed = await store.update(registry.id, "upstream-1", {"username": "v"})
    assert changed is not None and changed.username == "v"
    assert [r.name for r in await store.list(registry.id)] == ["upstream-1"]
    assert await store.delete(registry.id, "upstream-1")
    assert await store.get(registry.id, "upstream-1") is None

    keys = DeploymentKeyStore(db)
    await keys.add_first("db-a", b"a" * 32)
    await keys.add_first("db-b", b"b" * 32)  # a key exists: nothing added
    assert await keys.all() == {"db-a": b"a" * 32}


async def test_import_jobs(db: Database) -> None:
    registry = await RegistryStore(db).create("jobs")
    assert registry is not None
    store = ImportStore(db)
    job = await store.create(registry.id, {"source": "r.example/a:b"})
    assert job.status == "queued" and job.request == {"source": "r.example/a:b"}
    await store.progress(job.id, status="running", done=5, total=10)
    await store.finish(job.id, result={"digest": DIGEST}, done=10)
    done = await store.get(registry.id, job.id)
    assert done is not None and (done.status, done.bytes_done, done.result) == (
        "succeeded", 10, {"digest": DIGEST},
    )  # fmt: skip
    failed = await store.create(registry.id, {})
    await store.finish(failed.id, error_code="UpstreamNotFound", error="gone")
    statuses = {j.id: j.status for j in await store.list(registry.id)}
    assert statuses == {job.id: "succeeded", failed.id: "failed"}
    assert await store.get(registry.id + 1000, job.id) is None


async def test_link_across_registries(db: Database) -> None:
    registries = RegistryStore(db)
    source = await registries.create("source")
    target = await registries.create("target")
    assert source is not None and target is not None
    await BlobStore(db).add(source.id, "team/app", DIGEST, 4096)
    store = ImportStore(db)
    assert await store.link_across(source.id, "team/app", target.id, "copy/app", DIGEST) == 4096
    assert await store.linked(target.id, "copy/app", DIGEST)
    # Again: idempotent, counted once.
    assert await store.link_across(source.id, "team/app", target.id, "copy/app", DIGEST) == 4096
    usage = UsageStore(db)
    assert await usage.counters(target.id) == await usage.recount(target.id)
    assert (await usage.counters(target.id)).registry_bytes == 4096
    # A source that does not link the blob gives nothing.
    assert await store.link_across(source.id, "team/none", target.id, "copy/x", DIGEST) is None
    assert (
        await store.link_across(target.id, "copy/app", source.id, "a", "sha256:" + "2" * 64) is None
    )

    state = await store.target_state(target.id, "copy/app", ["v1"])
    assert state.repository is not None and state.repository.write_enabled and state.tags == {}
    assert await ArtifactStore(db).update_repository(
        target.id, "copy/app", {"write_enabled": False}
    )
    with pytest.raises(LockViolation):
        await store.link_across(source.id, "team/app", target.id, "copy/app", DIGEST)
