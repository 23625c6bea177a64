"""`copy_image`: one import's work, from a Source into one or more target repositories.

Order is what the registry's own checks demand (a manifest is refused while anything it
references is missing): blobs first, then image manifests by digest, then the index, then
the tags, then referrers (whose subject now exists). Everything goes through the content
services a push uses, so locks, quotas, usage counters and webhooks apply to imported content.

Multi-platform images: all platforms by default. With `platform` (`os/arch[/variant]`) only
that platform's image manifest is imported and the tags point to it; the index itself is not
stored, since the registry refuses an index whose children it does not hold, and an index
rewritten to list one platform would no longer have the upstream's digest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from portside.metadata.webhooks import EventContext
from portside.oci.digests import Digest
from portside.oci.manifests import Descriptor
from portside.services.content.manifests import ManifestService, Reference
from portside.services.content.targets import Target
from portside.services.errors import ManifestUnknown
from portside.services.imports.sources import Source
from portside.services.imports.upstream import FetchedManifest

__all__ = ["ImportTarget", "Plan", "copy_image", "plan_image"]

MAX_DEPTH = 3
"""How deep indexes may nest (and referrers of referrers go)."""
MAX_MANIFESTS = 256
"""The most manifests one import brings in: a bound on what an upstream can make it do."""


@dataclass(frozen=True, slots=True)
class ImportTarget:
    """A repository to import into, and the tag to set there (None: by digest only)."""

    target: Target
    tag: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    """What an import will store: manifests in storing order, the one tags point to, and the
    blobs they reference (each once)."""

    manifests: tuple[FetchedManifest, ...]
    tagged: FetchedManifest
    blobs: tuple[Descriptor, ...]

    @property
    def total_bytes(self) -> int:
        """The bytes of every blob (those already in place count as done)."""
        return sum(blob.size for blob in self.blobs)


def _matches(descriptor: Descriptor, platform: str) -> bool:
    wanted = platform.split("/")
    found = descriptor.platform or {}
    have = [str(found.get("os", "")), str(found.get("architecture", ""))]
    if len(wanted) > 2:
        have.append(str(found.get("variant", "")))
    return have == wanted


async def plan_image(source: Source, reference: str, platform: str | None) -> Plan:
    """Read the manifests `reference` names (children of indexes included, or only the one
    for `platform`) and list the blobs they need."""
    top = await source.manifest(reference)
    if platform is not None and top.parsed.is_index:
        chosen = [c for c in top.parsed.children if _matches(c, platform)]
        if not chosen:
            offered = sorted(
                "/".join(str(v) for v in (c.platform or {}).values() if isinstance(v, str))
                for c in top.parsed.children
            )
            raise ManifestUnknown(
                f"{source.name}@{top.digest} has no platform {platform} (it has: "
                f"{', '.join(offered)[:300] or 'none'})"
            )
        top = await _child(source, chosen[0].digest)
    ordered: list[FetchedManifest] = []
    await _collect(source, top, ordered, 0)
    return Plan(tuple(ordered), top, _blobs(ordered))


async def _child(source: Source, digest: Digest) -> FetchedManifest:
    return await source.manifest(str(digest))


async def _collect(
    source: Source, manifest: FetchedManifest, into: list[FetchedManifest], depth: int
) -> None:
    """Children before their index, each manifest once."""
    if any(m.digest == manifest.digest for m in into):
        return
    if depth > MAX_DEPTH or len(into) >= MAX_MANIFESTS:
        raise ManifestUnknown(f"{source.name}: indexes nest too deep or list too many manifests")
    for child in manifest.parsed.children:
        await _collect(source, await _child(source, child.digest), into, depth + 1)
    into.append(manifest)


def _blobs(manifests: Sequence[FetchedManifest]) -> tuple[Descriptor, ...]:
    seen: dict[Digest, Descriptor] = {}
    for manifest in manifests:
        for blob in manifest.parsed.blobs:
            seen.setdefault(blob.digest, blob)
    return tuple(seen.values())


async def copy_image(
    source: Source,
    plan: Plan,
    targets: Sequence[ImportTarget],
    manifests: ManifestService,
    progress: Callable[[int], None],
    *,
    with_referrers: bool = False,
    context: EventContext | None = None,
) -> dict[str, Any]:
    """Store `plan` in every target (blobs, manifests, tags, referrers); what was imported."""
    for blob in plan.blobs:
        for index, each in enumerate(targets):
            # The first target takes the bytes; the others only count them once.
            await source.place_blob(each.target, blob, progress if index == 0 else _ignore)
    stored: list[str] = []
    for each in targets:
        for manifest in plan.manifests:
            if manifest.digest != plan.tagged.digest or each.tag is None:
                await _put(manifests, each.target, manifest, None, context)
        if each.tag is not None:
            # One push by tag, as a client's: one webhook event names the tag.
            await _put(manifests, each.target, plan.tagged, each.tag, context)
    stored.extend(str(m.digest) for m in plan.manifests)
    referrers: list[str] = []
    if with_referrers:
        for manifest in plan.manifests:
            await _referrers(
                source, manifest.digest, targets, manifests, progress, referrers, context
            )
    return {
        "digest": str(plan.tagged.digest),
        "mediaType": plan.tagged.media_type,
        "manifests": stored,
        "referrers": referrers,
        "targets": [
            f"{t.target.repository}:{t.tag}" if t.tag else t.target.repository for t in targets
        ],
    }


async def _referrers(
    source: Source,
    subject: Digest,
    targets: Sequence[ImportTarget],
    manifests: ManifestService,
    progress: Callable[[int], None],
    done: list[str],
    context: EventContext | None,
    depth: int = 0,
) -> None:
    if depth >= MAX_DEPTH:
        return
    for descriptor in await source.referrers(subject):
        if str(descriptor.digest) in done or len(done) >= MAX_MANIFESTS:
            continue
        ordered: list[FetchedManifest] = []
        await _collect(source, await _child(source, descriptor.digest), ordered, 0)
        for blob in _blobs(ordered):
            for index, each in enumerate(targets):
                await source.place_blob(each.target, blob, progress if index == 0 else _ignore)
        for each in targets:
            for manifest in ordered:
                await _put(manifests, each.target, manifest, None, context)
        done.append(str(descriptor.digest))
        await _referrers(
            source, descriptor.digest, targets, manifests, progress, done, context, depth + 1
        )


async def _put(
    manifests: ManifestService,
    target: Target,
    manifest: FetchedManifest,
    tag: str | None,
    context: EventContext | None,
) -> None:
    reference = Reference(tag=tag) if tag is not None else Reference(digest=manifest.digest)
    await manifests.put(target, reference, manifest.body, manifest.media_type, context)


def _ignore(size: int) -> None:
    """Progress of a second target's copy: its bytes were counted with the first."""
