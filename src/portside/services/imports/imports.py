"""`ImportService`: `portside import`, like `az acr import`, run server-side as a job.

`start` checks what can be checked at once (names, the target's locks, an existing tag without
`force`, the upstream's address, the credential set) and answers a queued job; the job then
runs in this server process (`run_jobs`, started with the other background jobs) and writes
its state to the database (`import_jobs`), so any node answers its status. A job whose process
stopped is reported failed once it has not moved for STALE.

Upstream credentials given with the request live in memory only, for the job's run: the job's
row records the request without them.
"""

from __future__ import annotations

import builtins
import logging
import re
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import anyio

from portside.metadata.clock import utcnow
from portside.metadata.imports import FAILED, QUEUED, RUNNING, ImportJobRecord, ImportStore
from portside.metadata.manifests import ManifestStore
from portside.metadata.registries import RegistryStore
from portside.metadata.webhooks import EventContext
from portside.oci.digests import Digest
from portside.oci.errors import OciValueError
from portside.oci.names import validate_name, validate_tag
from portside.services.content.manifests import ManifestService
from portside.services.content.targets import Target
from portside.services.content.uploads import UploadService
from portside.services.errors import RegistryError
from portside.services.imports.copier import ImportTarget, copy_image, plan_image
from portside.services.imports.credential_sets import CredentialSetService
from portside.services.imports.errors import UpstreamError
from portside.services.imports.sources import LocalSource, Source, UpstreamSource
from portside.services.imports.upstream import UpstreamClient, UpstreamCredentials, UpstreamPolicy
from portside.services.management.errors import Conflict, Invalid, ManagementError, NotFound

__all__ = ["ImportRequest", "ImportService", "SourceName", "parse_source"]

log = logging.getLogger(__name__)

STALE = timedelta(minutes=2)
"""A queued or running job not updated for this long lost its process."""
_HEARTBEAT = 5.0
_FLUSH = 0.5
_PLATFORM = re.compile(r"[a-z0-9_.-]{1,32}/[a-z0-9_.-]{1,32}(/[a-z0-9_.-]{1,32})?")
MAX_TARGETS = 16


@dataclass(frozen=True, slots=True)
class SourceName:
    """A parsed source: its host (None: a registry of this deployment), repository, and a
    tag or a digest."""

    host: str | None
    repository: str
    reference: str

    @property
    def tag(self) -> str | None:
        """The tag, if the source names one."""
        return None if ":" in self.reference else self.reference


def parse_source(text: str, *, local: bool) -> SourceName:
    """`HOST/REPO:TAG` or `HOST/REPO@DIGEST` (`REPO:TAG`, `REPO@DIGEST` when `local`)."""
    text = text.strip()
    name, at, digest = text.partition("@")
    host: str | None = None
    if not local:
        first, slash, rest = name.partition("/")
        if not slash or not ("." in first or ":" in first or first == "localhost"):
            raise Invalid(f"the source {text[:200]!r} must start with the registry's host")
        host, name = first.lower(), rest
    if at:
        reference = digest
    else:
        last_slash, colon = name.rfind("/"), name.rfind(":")
        if colon > last_slash:
            name, reference = name[:colon], name[colon + 1 :]
        else:
            name, reference = name, "latest"
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io") and "/" not in name:
        name = f"library/{name}"
    try:
        validate_name(name)
        if at:
            Digest.parse(reference)
        else:
            validate_tag(reference)
    except OciValueError as error:
        raise Invalid(str(error)) from None
    return SourceName(host, name, reference)


def _target(text: str, default_tag: str | None) -> tuple[str, str | None]:
    name, _, tag = text.strip().partition(":")
    try:
        validate_name(name)
        chosen = tag or default_tag
        if chosen is not None:
            validate_tag(chosen)
    except OciValueError as error:
        raise Invalid(str(error)) from None
    return name, chosen


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """What `portside import` asks for."""

    source: str
    targets: tuple[str, ...] = ()
    source_registry: str | None = None
    credential_set: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    force: bool = False
    platform: str | None = None
    with_referrers: bool = False

    def recorded(self) -> dict[str, Any]:
        """The request as the job's row keeps it: no password."""
        return {
            "source": self.source,
            "sourceRegistry": self.source_registry,
            "targets": list(self.targets),
            "credentialSet": self.credential_set,
            "username": self.username,
            "force": self.force,
            "platform": self.platform,
            "withReferrers": self.with_referrers,
        }


@dataclass(frozen=True, slots=True)
class _Work:
    job: str
    source: SourceName
    source_registry_id: int | None
    targets: tuple[ImportTarget, ...]
    credentials: UpstreamCredentials | None = field(repr=False)
    request: ImportRequest


class ImportService:
    """Import jobs of registries."""

    def __init__(
        self,
        registries: RegistryStore,
        store: ImportStore,
        manifest_store: ManifestStore,
        manifests: ManifestService,
        uploads: UploadService,
        credential_sets: CredentialSetService,
        policy: UpstreamPolicy,
        *,
        concurrency: int = 4,
    ) -> None:
        self._registries = registries
        self._store = store
        self._manifest_store = manifest_store
        self._manifests = manifests
        self._uploads = uploads
        self._credential_sets = credential_sets
        self.policy = policy
        self._concurrency = concurrency
        # Jobs accepted by this process and not yet started; `run_jobs` waits on `_wakeup`.
        self._queue: deque[_Work] = deque()
        self._wakeup: anyio.Event | None = None

    async def start(self, registry: str, request: ImportRequest) -> ImportJobRecord:
        """Check the request and queue its job. Invalid, NotFound, Conflict (an existing tag
        without `force`, a locked target), UpstreamRefused (the address policy)."""
        registry_id = await self._registry_id(registry)
        local = request.source_registry is not None
        source = parse_source(request.source, local=local)
        if request.platform is not None and not _PLATFORM.fullmatch(request.platform):
            raise Invalid("a platform is os/arch or os/arch/variant, such as linux/arm64")
        source_registry_id = None
        if request.source_registry is not None:
            source_registry_id = await self._registry_id(request.source_registry)
        credentials = await self._credentials(registry, source, request)
        if source.host is not None:
            await self._check_upstream(source.host)
        targets = await self._targets(registry_id, source, request)
        job = await self._store.create(registry_id, request.recorded())
        self._queue.append(_Work(job.id, source, source_registry_id, targets, credentials, request))
        if self._wakeup is not None:
            self._wakeup.set()
        return job

    async def get(self, registry: str, job_id: str) -> ImportJobRecord:
        """A job of the registry; NotFound if there is none."""
        registry_id = await self._registry_id(registry)
        found = await self._store.get(registry_id, job_id) if len(job_id) <= 36 else None
        if found is None:
            raise NotFound(f"import {job_id[:36]!r} does not exist in {registry!r}")
        return _unstale(found)

    async def list(self, registry: str) -> builtins.list[ImportJobRecord]:
        """The registry's recent jobs, newest first."""
        return [_unstale(j) for j in await self._store.list(await self._registry_id(registry))]

    async def run_jobs(self) -> None:
        """Run queued jobs as they come, a few at a time, until cancelled."""
        limiter = anyio.CapacityLimiter(self._concurrency)
        async with anyio.create_task_group() as tasks:
            while True:
                while self._queue:
                    tasks.start_soon(self._run_limited, limiter, self._queue.popleft())
                self._wakeup = anyio.Event()
                if not self._queue:
                    await self._wakeup.wait()

    async def _run_limited(self, limiter: anyio.CapacityLimiter, work: _Work) -> None:
        async with limiter:
            await self.run(work)

    async def run(self, work: _Work) -> None:
        """Run one job to its end, its state written as it goes."""
        tracker = _Tracker(self._store, work.job)
        await self._store.progress(work.job, status=RUNNING, done=0, total=0)
        result: dict[str, Any] = {}
        failure: tuple[str, str] | None = None
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(tracker.flush_periodically)
            try:
                result = await self._copy(work, tracker)
            except (UpstreamError, ManagementError, RegistryError) as error:
                failure = (type(error).__name__, error.message)
            except OciValueError as error:
                failure = (type(error).__name__, str(error))
            except Exception:
                log.exception("import %s failed", work.job)
                failure = ("InternalError", "the import failed on the server")
            finally:
                tasks.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            if failure is None:
                await self._store.finish(work.job, result=result, done=tracker.done)
            else:
                code, message = failure
                await self._store.finish(
                    work.job, error_code=code, error=message, done=tracker.done
                )

    async def _copy(self, work: _Work, tracker: _Tracker) -> dict[str, Any]:
        context = EventContext(method="IMPORT", useragent="portside-import")
        if work.source.host is None:
            assert work.source_registry_id is not None
            source: Source = LocalSource(
                work.request.source_registry or "",
                work.source_registry_id,
                work.source.repository,
                self._manifest_store,
                self._store,
            )
            return await self._copy_from(source, work, tracker, context)
        async with UpstreamClient(
            work.source.host, self.policy, credentials=work.credentials
        ) as client:
            upstream = UpstreamSource(client, work.source.repository, self._uploads, self._store)
            return await self._copy_from(upstream, work, tracker, context)

    async def _copy_from(
        self, source: Source, work: _Work, tracker: _Tracker, context: EventContext
    ) -> dict[str, Any]:
        plan = await plan_image(source, work.source.reference, work.request.platform)
        tracker.total = plan.total_bytes
        await tracker.flush()
        return await copy_image(
            source,
            plan,
            work.targets,
            self._manifests,
            tracker.add,
            with_referrers=work.request.with_referrers,
            context=context,
        )

    async def _credentials(
        self, registry: str, source: SourceName, request: ImportRequest
    ) -> UpstreamCredentials | None:
        if request.credential_set is not None and request.username is not None:
            raise Invalid("give a credential set or a user name and password, not both")
        if source.host is None:
            if request.credential_set is not None or request.username is not None:
                raise Invalid("an import from a registry of this deployment takes no credentials")
            return None
        if request.credential_set is not None:
            login = await self._credential_sets.credentials(registry, request.credential_set)
            if login.login_server != source.host:
                raise Invalid(
                    f"credential set {login.name!r} is for {login.login_server}, not {source.host}"
                )
            return login.credentials
        if request.username is not None:
            if not request.password:
                raise Invalid("a user name needs a password")
            return UpstreamCredentials(request.username, request.password)
        return None

    async def _check_upstream(self, host: str) -> None:
        async with UpstreamClient(host, self.policy) as client:
            await client.check()

    async def _targets(
        self, registry_id: int, source: SourceName, request: ImportRequest
    ) -> tuple[ImportTarget, ...]:
        texts = request.targets or (source.repository,)
        if len(texts) > MAX_TARGETS:
            raise Invalid(f"an import has at most {MAX_TARGETS} target images")
        found: list[ImportTarget] = []
        for text in texts:
            name, tag = _target(text, source.tag)
            state = await self._store.target_state(registry_id, name, [tag] if tag else [])
            if state.repository is not None and not state.repository.write_enabled:
                raise Conflict(f"repository {name!r} is locked (writeEnabled is false)")
            flags = state.tags.get(tag) if tag else None
            if flags is not None and not request.force:
                raise Conflict(f"tag {name}:{tag} exists; import with --force to overwrite it")
            if flags is not None and not flags.write_enabled:
                raise Conflict(f"tag {name}:{tag} is locked (writeEnabled is false)")
            found.append(ImportTarget(Target(registry_id, name), tag))
        return tuple(found)

    async def _registry_id(self, registry: str) -> int:
        record = await self._registries.get(registry.lower()) if len(registry) <= 64 else None
        if record is None:
            raise NotFound(f"registry {registry[:64]!r} does not exist")
        return record.id


def _unstale(job: ImportJobRecord) -> ImportJobRecord:
    if job.status in (QUEUED, RUNNING) and job.updated_at < utcnow() - STALE:
        return replace(
            job,
            status=FAILED,
            error_code="Interrupted",
            error="the server process running this import stopped; run it again",
        )
    return job


class _Tracker:
    """A job's progress, counted as bytes flow and written to its row now and then."""

    def __init__(self, store: ImportStore, job: str) -> None:
        self._store = store
        self._job = job
        self.done = 0
        self.total = 0
        self._written = (-1, -1)

    def add(self, size: int) -> None:
        """Count `size` more bytes."""
        self.done += size

    async def flush(self) -> None:
        """Write the progress now."""
        self._written = (self.done, self.total)
        await self._store.progress(self._job, done=self.done, total=self.total)

    async def flush_periodically(self) -> None:
        """Write progress when it moved (or every few seconds, as a heartbeat)."""
        quiet = 0.0
        while True:
            await anyio.sleep(_FLUSH)
            quiet += _FLUSH
            if (self.done, self.total) != self._written or quiet >= _HEARTBEAT:
                await self.flush()
                quiet = 0.0
