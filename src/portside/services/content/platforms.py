"""What ACR's manifest attributes say about platforms: an image's architecture and OS (from
its config blob) and the platforms an index references (from the index itself).

Config blobs are content-addressed and never change, so what was read from one is kept in a
small per-process LRU keyed by its digest: a listing reads each config from storage once.
Only image configs are read (not arbitrary artifact configs), and only up to a size bound.
A config that cannot be read leaves the platform unknown; a listing never fails for it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

import anyio

from portside.oci.errors import OciValueError
from portside.oci.manifests import Descriptor, parse_manifest
from portside.storage.base import StorageDriver, closing
from portside.storage.errors import StorageError
from portside.storage.layout import blob_key

__all__ = ["IMAGE_CONFIG_TYPES", "ManifestDetails", "Platform", "PlatformReader"]

IMAGE_CONFIG_TYPES = frozenset(
    {
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    }
)
"""Config media types whose JSON carries `architecture` and `os`."""

_MAX_CONFIG_BYTES = 1024 * 1024
_PARALLEL_READS = 16


@dataclass(frozen=True, slots=True)
class Platform:
    """An architecture and operating system, either of which may be unknown."""

    architecture: str | None = None
    os: str | None = None


@dataclass(frozen=True, slots=True)
class ManifestDetails:
    """Facts parsed from a manifest and its config."""

    config_media_type: str | None = None
    platform: Platform = Platform()
    references: tuple[tuple[str, Platform], ...] | None = None
    """An index's children (digest, platform); None for anything that is not an index."""


class PlatformReader:
    """Reads manifests' platforms, keeping what configs said in a bounded LRU."""

    def __init__(self, driver: StorageDriver, entries: int = 4096) -> None:
        self._driver = driver
        self._entries = entries
        self._cache: OrderedDict[str, Platform] = OrderedDict()

    async def describe(self, manifests: list[tuple[str, bytes]]) -> list[ManifestDetails]:
        """Details of each (media type, body), reading uncached configs concurrently."""
        parsed = [_config_and_children(media_type, body) for media_type, body in manifests]
        wanted = {
            str(config.digest): config
            for config, _ in parsed
            if config is not None and str(config.digest) not in self._cache
        }
        if wanted:
            limiter = anyio.CapacityLimiter(_PARALLEL_READS)
            async with anyio.create_task_group() as tasks:
                for config in wanted.values():
                    tasks.start_soon(self._load, config, limiter)
        return [self._details(config, children) for config, children in parsed]

    def _details(
        self, config: Descriptor | None, children: tuple[Descriptor, ...] | None
    ) -> ManifestDetails:
        if children is not None:
            references = tuple((str(c.digest), _platform_of(c.platform)) for c in children)
            return ManifestDetails(references=references)
        if config is None:
            return ManifestDetails()
        platform = self._cache.get(str(config.digest), Platform())
        if str(config.digest) in self._cache:
            self._cache.move_to_end(str(config.digest))
        return ManifestDetails(config_media_type=config.media_type, platform=platform)

    async def _load(self, config: Descriptor, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            try:
                data = await self._read(config)
            except StorageError:
                return  # unknown this time; not cached, the next listing tries again
        self._cache[str(config.digest)] = _platform_of(_json_object(data))
        while len(self._cache) > self._entries:
            self._cache.popitem(last=False)

    async def _read(self, config: Descriptor) -> bytes:
        if config.media_type not in IMAGE_CONFIG_TYPES or config.size > _MAX_CONFIG_BYTES:
            return b""
        parts: list[bytes] = []
        total = 0
        # No length: a range past the end is an error on some object stores. A config larger
        # than its descriptor said stops being read at the bound (and parses as nothing).
        async with closing(self._driver.read(blob_key(config.digest))) as chunks:
            async for chunk in chunks:
                parts.append(chunk)
                total += len(chunk)
                if total > _MAX_CONFIG_BYTES:
                    return b""
        return b"".join(parts)


def _config_and_children(
    media_type: str, body: bytes
) -> tuple[Descriptor | None, tuple[Descriptor, ...] | None]:
    """An image's config descriptor, or an index's children (stored manifests parse)."""
    try:
        parsed = parse_manifest(body, media_type)
    except OciValueError:
        return None, None
    if parsed.is_index:
        return None, parsed.children
    return parsed.config, None


def _json_object(data: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _platform_of(doc: dict[str, object] | None) -> Platform:
    if doc is None:
        return Platform()
    architecture, os = doc.get("architecture"), doc.get("os")
    return Platform(
        architecture if isinstance(architecture, str) and architecture else None,
        os if isinstance(os, str) and os else None,
    )
