"""Webhooks of a registry, and the outbox rows written in the transactions of the changes
they report.

`enabled_webhooks` and `enqueue` are called inside a push's or a deletion's write transaction
(metadata/manifests.py, metadata/deletion.py): the event rows commit or roll back with the
change, so an event is never lost and never reports a change that did not happen. A registry
without webhooks pays one indexed read (the `(registry_id, name)` unique index).

The payload is ACR's (`id`, `timestamp`, `action`, `target`, `request`, `actor`): it is built
here because it must be written in that transaction; `request` and `actor` come from an
`EventContext` the HTTP layer builds (empty for internal callers such as retention).
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portside.metadata.clock import utcnow
from portside.metadata.conflicts import insert_or_ignore, retry_on_conflict
from portside.metadata.database import Database
from portside.metadata.errors import QuotaViolation
from portside.metadata.regional_events import hold
from portside.metadata.schema import manifests, tags, webhook_events, webhooks
from portside.metadata.usage import read_limit
from portside.oci.charts import ChartRef, chart_from_manifest

__all__ = [
    "CHART_ACTIONS",
    "EventContext",
    "EventTarget",
    "HookRef",
    "WebhookRecord",
    "WebhookStore",
    "described_manifests",
    "enabled_webhooks",
    "enqueue",
    "enqueue_chart_deletions",
    "enqueue_repository_deleted",
    "event_payload",
    "scope_matches",
]


@dataclass(frozen=True, slots=True)
class EventContext:
    """The request behind a change: the `request` and `actor` parts of its events."""

    request_id: str = ""
    host: str = ""
    method: str = ""
    useragent: str = ""
    actor: str = ""


@dataclass(frozen=True, slots=True)
class EventTarget:
    """What an event reports: a manifest, with the tag it was pushed or deleted under.

    `tags` are the manifest's tags at a deletion by digest: not in the payload (ACR names no
    tag then) but matched against webhook scopes. `chart` names a Helm chart for the
    `chart_push` and `chart_delete` events.
    """

    repository: str
    digest: str
    media_type: str
    size: int
    tag: str | None = None
    tags: tuple[str, ...] = ()
    chart: ChartRef | None = None


@dataclass(frozen=True, slots=True)
class HookRef:
    """An enabled webhook as the outbox needs it: which actions and scope it listens to."""

    id: int
    actions: tuple[str, ...]
    scope: str
    location: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    """A webhook as stored (headers in clear: the service masks them)."""

    id: int
    registry_id: int
    name: str
    uri: str
    actions: tuple[str, ...]
    scope: str
    headers: dict[str, str]
    enabled: bool
    created_at: datetime
    location: str | None = None


_ENABLED = select(webhooks.c.id, webhooks.c.actions, webhooks.c.scope, webhooks.c.location).where(
    webhooks.c.registry_id == bindparam("registry_id"), webhooks.c.enabled.is_(True)
)


CHART_ACTIONS = frozenset({"chart_push", "chart_delete"})
"""The actions that report Helm charts (pushed as OCI artifacts), beside `push` and `delete`."""


def scope_matches(scope: str, repository: str, tags: Sequence[str]) -> bool:
    """Whether ACR's `scope` covers an event on `repository` under any of `tags`.

    Empty is everything; `repo:*` every event of the repository; `repo:tag` that tag;
    `repo` alone means `repo:latest`. An event with no tag (a push or deletion by digest)
    matches only scopes that cover every tag of its repository.
    """
    if not scope:
        return True
    name, _, tag = scope.partition(":")
    if name != repository:
        return False
    tag = tag or "latest"
    return tag == "*" or tag in tags


def event_payload(
    event_id: str,
    now: datetime,
    action: str,
    target: EventTarget | None,
    context: EventContext | None,
) -> dict[str, Any]:
    """ACR's webhook payload for an event (`target` None for a ping)."""
    context = context or EventContext()
    payload: dict[str, Any] = {
        "id": event_id,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "action": action,
    }
    if target is not None:
        described: dict[str, Any] = {
            "mediaType": target.media_type,
            "size": target.size,
            "digest": target.digest,
            "length": target.size,
            "repository": target.repository,
        }
        if target.tag is not None:
            described["tag"] = target.tag
        if action in CHART_ACTIONS and target.chart is not None:
            # ACR's chart events carry the chart's name and version, and no `length`.
            del described["length"]
            described["name"] = target.chart.name
            described["version"] = target.chart.version
        payload["target"] = described
    payload["request"] = {
        "id": context.request_id,
        "host": context.host,
        "method": context.method,
        "useragent": context.useragent,
    }
    payload["actor"] = {"name": context.actor} if context.actor else {}
    return payload


async def enabled_webhooks(conn: AsyncConnection, registry_id: int) -> list[HookRef]:
    """The registry's enabled webhooks (usually none: one indexed read)."""
    rows = (await conn.execute(_ENABLED, {"registry_id": registry_id})).all()
    return [HookRef(int(r.id), tuple(r.actions.split()), r.scope, r.location) for r in rows]


async def described_manifests(
    conn: AsyncConnection, ids: Sequence[int]
) -> dict[int, tuple[str, int]]:
    """Media type and size of manifests by id: what a delete event's target tells."""
    rows = await conn.execute(
        select(manifests.c.id, manifests.c.media_type, manifests.c.size).where(
            manifests.c.id.in_(list(ids))
        )
    )
    return {int(r.id): (r.media_type, int(r.size)) for r in rows.all()}


async def enqueue_chart_deletions(
    conn: AsyncConnection,
    hooks: Sequence[HookRef],
    deleted: Sequence[tuple[int, EventTarget]],
    context: EventContext | None,
    now: datetime | None = None,
) -> None:
    """A `chart_delete` event per deleted manifest (id, its delete event's target) that is a
    Helm chart, for each webhook listening to it; reads the manifests' bodies only then."""
    if not any("chart_delete" in hook.actions for hook in hooks) or not deleted:
        return
    rows = await conn.execute(
        select(manifests.c.id, manifests.c.body).where(
            manifests.c.id.in_([manifest_id for manifest_id, _ in deleted])
        )
    )
    bodies = {int(r.id): bytes(r.body) for r in rows.all()}
    charts = []
    for manifest_id, target in deleted:
        # A deletion by digest names no tag: the chart's version falls back to one of its tags.
        tag = target.tag if target.tag is not None else next(iter(sorted(target.tags)), None)
        chart = chart_from_manifest(bodies.get(manifest_id, b""), target.repository, tag)
        if chart is not None:
            charts.append(replace(target, chart=chart))
    await enqueue(conn, hooks, "chart_delete", charts, context, now)


async def enqueue_repository_deleted(
    conn: AsyncConnection,
    registry_id: int,
    repo_id: int,
    repository: str,
    context: EventContext | None,
) -> None:
    """A delete event per manifest of a repository being deleted, for each matching webhook
    (none: one read); call before its rows go."""
    hooks = await enabled_webhooks(conn, registry_id)
    if not hooks:
        return
    rows = (
        await conn.execute(
            select(manifests.c.id, manifests.c.digest, manifests.c.media_type, manifests.c.size)
            .where(manifests.c.repository_id == repo_id)
            .order_by(manifests.c.id)
        )
    ).all()
    named: dict[int, list[str]] = {}
    for manifest_id, tag in (
        await conn.execute(
            select(tags.c.manifest_id, tags.c.name).where(tags.c.repository_id == repo_id)
        )
    ).all():
        named.setdefault(int(manifest_id), []).append(tag)
    deleted = [
        (
            int(r.id),
            EventTarget(
                repository, r.digest, r.media_type, int(r.size), tags=tuple(named.get(r.id, ()))
            ),
        )
        for r in rows
    ]
    await enqueue(conn, hooks, "delete", [target for _, target in deleted], context)
    await enqueue_chart_deletions(conn, hooks, deleted, context)


async def enqueue(
    conn: AsyncConnection,
    hooks: Sequence[HookRef],
    action: str,
    targets: Sequence[EventTarget],
    context: EventContext | None,
    now: datetime | None = None,
) -> int:
    """Write one pending event per target and matching webhook in the caller's transaction
    (a regional webhook's push is held: metadata/regional_events.py); how many were written."""
    now = now or utcnow()
    rows = []
    for hook in hooks:
        if action not in hook.actions:
            continue
        for target in targets:
            tags = (target.tag,) if target.tag is not None else target.tags
            if not scope_matches(hook.scope, target.repository, tags):
                continue
            row = _event_row(hook.id, action, target, context, now)
            if hook.location and action in ("push", "chart_push"):  # fires once complete there
                await hold(conn, hook.id, hook.location, target.repository, target.digest, row)
            else:
                rows.append(row)
    if rows:
        await conn.execute(insert(webhook_events), rows)
    return len(rows)


def _event_row(
    hook_id: int,
    action: str,
    target: EventTarget | None,
    context: EventContext | None,
    now: datetime,
) -> dict[str, Any]:
    event_id = str(uuid.uuid4())
    return {
        "id": event_id,
        "webhook_id": hook_id,
        "action": action,
        "payload": json.dumps(event_payload(event_id, now, action, target, context)),
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "retry_from": now,
        "created_at": now,
    }


def _record(row: Any) -> WebhookRecord:
    return WebhookRecord(
        id=int(row.id),
        registry_id=int(row.registry_id),
        name=row.name,
        uri=row.uri,
        actions=tuple(row.actions.split()),
        scope=row.scope,
        headers=dict(json.loads(row.headers or "{}")),
        enabled=bool(row.enabled),
        created_at=row.created_at,
        location=row.location,
    )


class WebhookStore:
    """A registry's webhooks: create (within its quota), read, change, delete, ping."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, registry_id: int, name: str) -> WebhookRecord | None:
        """One webhook by name."""
        query = select(webhooks).where(
            webhooks.c.registry_id == registry_id, webhooks.c.name == name
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def list(self, registry_id: int) -> builtins.list[WebhookRecord]:
        """The registry's webhooks, by name."""
        query = (
            select(webhooks).where(webhooks.c.registry_id == registry_id).order_by(webhooks.c.name)
        )
        async with self._db.read() as conn:
            return [_record(row) for row in (await conn.execute(query)).all()]

    @retry_on_conflict
    async def create(
        self,
        registry_id: int,
        name: str,
        uri: str,
        actions: Sequence[str],
        scope: str,
        headers: Mapping[str, str],
        enabled: bool,
        location: str | None = None,
    ) -> WebhookRecord | None:
        """Add a webhook; None if the name is taken.

        Raises QuotaViolation if the registry already has as many as its `webhooks` limit
        (its override, else its SKU's): counted under the registry's row lock, so concurrent
        creations cannot overshoot it.
        """
        now = utcnow()
        async with self._db.write() as conn:
            limit = await read_limit(conn, registry_id, "webhooks", lock=True)
            if limit is not None:
                used = await conn.scalar(
                    select(func.count()).where(webhooks.c.registry_id == registry_id)
                )
                if int(used or 0) >= limit:
                    raise QuotaViolation(
                        "webhooks", limit, f"the registry may have at most {limit} webhook(s)"
                    )
            created = await conn.execute(
                insert_or_ignore(conn, webhooks, ("registry_id", "name")).values(
                    registry_id=registry_id,
                    name=name,
                    uri=uri,
                    actions=" ".join(actions),
                    scope=scope,
                    headers=json.dumps(dict(headers)),
                    enabled=enabled,
                    created_at=now,
                    location=location,
                )
            )
            if not created.rowcount:
                return None
            row = (
                await conn.execute(
                    select(webhooks).where(
                        webhooks.c.registry_id == registry_id, webhooks.c.name == name
                    )
                )
            ).one()
        return _record(row)

    @retry_on_conflict
    async def update(
        self, registry_id: int, name: str, changes: Mapping[str, Any]
    ) -> WebhookRecord | None:
        """Change `uri`, `actions`, `scope`, `headers`, `enabled` or `location`; None if there is
        none."""
        values = dict(changes)
        if "actions" in values:
            values["actions"] = " ".join(values["actions"])
        if "headers" in values:
            values["headers"] = json.dumps(dict(values["headers"]))
        where = (webhooks.c.registry_id == registry_id) & (webhooks.c.name == name)
        async with self._db.write() as conn:
            if values:
                await conn.execute(update(webhooks).where(where).values(**values))
            row = (await conn.execute(select(webhooks).where(where))).first()
        return None if row is None else _record(row)

    @retry_on_conflict
    async def delete(self, registry_id: int, name: str) -> bool:
        """Delete a webhook with its events; False if there was none."""
        where = (webhooks.c.registry_id == registry_id) & (webhooks.c.name == name)
        async with self._db.write() as conn:
            result = await conn.execute(delete(webhooks).where(where))
        return result.rowcount > 0

    @retry_on_conflict
    async def ping(self, hook_id: int) -> str:
        """Enqueue a ping event for the webhook (whatever its actions); its id."""
        row = _event_row(hook_id, "ping", None, None, utcnow())
        async with self._db.write() as conn:
            await conn.execute(insert(webhook_events).values(**row))
        return str(row["id"])
