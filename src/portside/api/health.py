"""`/healthz` (the process answers) and `/readyz` (its database and storage answer).

Load balancers take a node out of rotation when /readyz fails. Neither needs credentials.
/readyz says "ok" or, per dependency, that it is unreachable, or what is wrong with it when the
operator must act (a bucket or container that does not exist). It answers within one second
whatever is down: the checks run side by side, each bounded by a deadline, and the object-store
drivers probe with one attempt instead of their SDK's retries and backoff. A geo-replicated
node also names its location and how the other locations' storage answers (reported only: a
node whose own storage and database answer is ready; docs/geo-replication.md).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portside.api.state import app_state
from portside.metadata.database import Database
from portside.storage.base import StorageDriver
from portside.storage.errors import ObjectNotFound

__all__ = ["CHECK_SECONDS", "healthz", "probe_storage_at_start", "readyz"]

log = logging.getLogger("portside.health")
# Never written: a stat that answers "not found" proves the storage backend is reachable.
_PROBE_KEY = "health/probe"
CHECK_SECONDS = 0.8
"""Deadline of each readiness check; they run concurrently, under probes' usual 1 s timeout."""


async def healthz(request: Request) -> Response:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"})


async def _database(database: Database) -> str:
    await database.ping()
    return "ok"


async def _storage(driver: StorageDriver) -> str:
    # A driver's own probe (S3, Azure Blob): "ok" or what is wrong. Looked up with getattr,
    # not a runtime-checkable Protocol: from Python 3.12 `isinstance` against one skips
    # `__getattr__`, through which TimedDriver passes the probe of the driver it wraps.
    readiness: Callable[[], Awaitable[str]] | None = getattr(driver, "readiness", None)
    if readiness is not None:
        return await readiness()
    with contextlib.suppress(ObjectNotFound):  # "not found" is an answer: storage is up
        await driver.stat(_PROBE_KEY)
    return "ok"


async def _bounded(name: str, check: Callable[[], Awaitable[str]], into: dict[str, str]) -> None:
    """Run one check under the deadline; an exception or a timeout is "unreachable"."""
    try:
        with anyio.fail_after(CHECK_SECONDS):
            into[name] = await check()
    except TimeoutError:
        log.warning("readiness: %s did not answer within %.1f s", name, CHECK_SECONDS)
        into[name] = "unreachable"
    except Exception as exc:
        log.warning("readiness: %s unreachable: %s", name, exc)
        into[name] = "unreachable"
    if into[name] not in ("ok", "unreachable"):
        log.warning("readiness: %s not ready: %s", name, into[name])


async def probe_storage_at_start(driver: StorageDriver) -> None:
    """Run an object store's readiness probe once while the worker starts (bounded, result
    logged): building its client loads the SDK's service description, which blocks the event
    loop longer than the probe's deadline, and would otherwise fall on the first /readyz."""
    if getattr(driver, "readiness", None) is None:
        return  # the filesystem: nothing to build, nothing to delay the start with
    checks: dict[str, str] = {}
    await _bounded("storage", lambda: _storage(driver), checks)


async def readyz(request: Request) -> Response:
    """The database and the blob storage both answer, and the bucket or container exists."""
    state = app_state(request)
    checks: dict[str, str] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(_bounded, "database", lambda: _database(state.database), checks)
        group.start_soon(_bounded, "storage", lambda: _storage(state.driver), checks)
        # Other locations' storage (geo-replication): reported, not needed to be ready here.
        located = state.located
        others = {} if located is None else located.others
        places: dict[str, str] = {}
        for name, driver in others.items():
            group.start_soon(_bounded, name, functools.partial(_storage, driver), places)
    ready = all(checks[name] == "ok" for name in ("database", "storage"))
    body: dict[str, object] = {"status": "ok" if ready else "unavailable"}
    body.update((name, checks[name]) for name in ("database", "storage"))
    if located is not None:
        body["location"] = located.location
        body["locations"] = {name: places[name] for name in others}
    return JSONResponse(body, 200 if ready else 503)
