"""The audit log service: records wait in a bounded buffer and are written in batches (on
time, when a batch is full, at shutdown); reads see this process's records at once; pruning
takes the lease and keeps what is within the retention period."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from portside.metadata.audit import AuditEntry, AuditFilter, AuditStore
from portside.metadata.clock import utcnow
from portside.metadata.database import Database
from portside.metadata.leases import LeaseStore
from portside.metadata.registries import RegistryStore
from portside.metadata.repositories import RepositoryStore
from portside.services.events.audit import LEASE, AuditLog, parse_since
from portside.services.management.errors import Invalid

pytestmark = pytest.mark.anyio


def entry(**changes: object) -> AuditEntry:
    """A successful push into registry `alpha`, now."""
    base = AuditEntry(
        at=utcnow(),
        registry="alpha",
        registry_uid=None,
        identity_kind="admin",
        identity_id="alpha",
        client="192.0.2.1",
        action="manifest.push",
        target="app:v1",
        outcome="success",
        status=201,
        request_id="r",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def alpha_uid(db: Database) -> str:
    await RepositoryStore(db).ensure_registry("alpha")
    record = await RegistryStore(db).get("alpha")
    assert record is not None
    return record.uid


def audit_log(db: Database, **options: object) -> AuditLog:
    return AuditLog(
        AuditStore(db),
        LeaseStore(db),
        retention=options.pop("retention", timedelta(days=90)),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


async def test_records_wait_until_flushed_and_reads_flush_first(db: Database) -> None:
    uid = await alpha_uid(db)
    audit = audit_log(db)
    audit.record(entry())
    audit.record(entry(action="manifest.delete"))
    assert audit.pending == 2
    assert await AuditStore(db).registry_page(uid, AuditFilter()) == []
    page = await audit.registry_page(uid, AuditFilter())
    assert audit.pending == 0
    assert sorted(r.entry.action for r in page.records) == ["manifest.delete", "manifest.push"]
    assert page.next is None


async def test_pages_say_where_the_next_starts(db: Database) -> None:
    uid = await alpha_uid(db)
    audit = audit_log(db)
    for i in range(5):
        audit.record(entry(target=f"app:{i}"))
    first = await audit.registry_page(uid, AuditFilter(), limit=3)
    assert len(first.records) == 3 and first.next == first.records[-1].id
    rest = await audit.registry_page(uid, AuditFilter(), last=first.next, limit=3)
    assert len(rest.records) == 2 and rest.next is None
    with pytest.raises(Invalid):
        await audit.registry_page(uid, AuditFilter(), last=10_000)


async def test_the_writer_flushes_on_time_on_a_full_batch_and_at_shutdown(db: Database) -> None:
    uid = await alpha_uid(db)
    store = AuditStore(db)
    audit = audit_log(db, flush_seconds=3600.0, batch=3)

    async def stored() -> int:
        return len(await store.registry_page(uid, AuditFilter(), limit=100))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(audit.run_writer)
        await anyio.sleep(0.05)
        audit.record(entry())
        audit.record(entry())
        await anyio.sleep(0.1)
        assert await stored() == 0, "under a batch, the writer waits for its interval"
        audit.record(entry())  # a full batch wakes it
        await eventually(stored, 3)
        audit.record(entry(action="last"))
        tasks.cancel_scope.cancel()
    assert await stored() == 4, "what waited was written at shutdown"

    quick = audit_log(db, flush_seconds=0.05)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(quick.run_writer)
        quick.record(entry())
        await eventually(stored, 5)
        tasks.cancel_scope.cancel()


async def test_a_read_waits_for_the_batch_the_writer_is_writing(db: Database) -> None:
    uid = await alpha_uid(db)
    audit = AuditLog(_SlowStore(db), LeaseStore(db), retention=None, flush_seconds=0.01)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(audit.run_writer)
        audit.record(entry())
        await anyio.sleep(0.1)  # the writer took the record and is writing it
        assert audit.pending == 0
        page = await audit.registry_page(uid, AuditFilter())
        assert len(page.records) == 1
        tasks.cancel_scope.cancel()


class _SlowStore(AuditStore):
    async def append(self, entries: Sequence[AuditEntry]) -> int:
        await anyio.sleep(0.3)
        return await super().append(entries)


async def eventually(count: Callable[[], Awaitable[int]], expected: int) -> None:
    """Wait (up to 5 s) until `count()` reaches `expected`."""
    for _ in range(250):
        if await count() >= expected:
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"{await count()} stored, not {expected}")


async def test_the_buffer_is_bounded_and_kept_when_writing_fails(db: Database) -> None:
    audit = audit_log(db, max_pending=3)
    for _ in range(5):
        audit.record(entry())
    assert audit.pending == 3, "past the bound, records are dropped (and logged)"
    failing = AuditLog(_FailingStore(), LeaseStore(db), retention=None, max_pending=3)
    failing.record(entry())
    failing.record(entry())
    with pytest.raises(ConnectionError):
        await failing.flush()
    assert failing.pending == 2, "records of a failed write wait for the next"


class _FailingStore(AuditStore):
    def __init__(self) -> None:
        pass

    async def append(self, entries: object) -> int:  # type: ignore[override]
        raise ConnectionError("database down")


async def test_prune_keeps_the_retention_period_under_the_lease(db: Database) -> None:
    uid = await alpha_uid(db)
    store = AuditStore(db)
    now = utcnow()
    await store.append(
        [entry(at=now - timedelta(days=d), target=f"app:{d}") for d in (1, 89, 91, 400)]
    )
    leases = LeaseStore(db)
    audit = AuditLog(store, leases, retention=timedelta(days=90), prune_batch=1)
    assert await leases.acquire(LEASE, "other-node", timedelta(minutes=5))
    assert await audit.prune("this-node") is None, "another node holds the lease"
    await leases.release(LEASE, "other-node")
    assert await audit.prune("this-node") == 2
    kept = await store.registry_page(uid, AuditFilter())
    assert sorted(r.entry.target for r in kept) == ["app:1", "app:89"]
    await audit.release("this-node")
    assert await leases.holder(LEASE) is None
    forever = AuditLog(store, leases, retention=None)
    await store.append([entry(at=now - timedelta(days=1000))])
    assert await forever.prune("this-node") == 0


def test_since_takes_durations_and_times() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2w", now) == now - timedelta(weeks=2)
    assert parse_since("2026-12-01T00:00:00Z", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    for bad in ("yesterday", "-5m", "5y", "", "1" * 20 + "d", "999999999w"):
        with pytest.raises(Invalid):
            parse_since(bad, now)
