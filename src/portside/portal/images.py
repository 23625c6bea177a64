"""What a manifest page shows beyond stored attributes: its layers, and its image config
(created, entrypoint, command, environment, labels), read from storage with a bound."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from portside.oci.digests import Digest
from portside.oci.errors import OciValueError
from portside.storage.base import StorageDriver
from portside.storage.errors import ObjectNotFound
from portside.storage.layout import blob_key

__all__ = ["ImageConfig", "Layer", "TreeNode", "image_config", "layers_of", "tree_of"]

# Configs are small (a few KiB); a bigger one is not shown rather than read whole.
_MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Layer:
    """One blob a manifest references: its media type, digest and size."""

    media_type: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image config a person reads."""

    created: str = ""
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class TreeNode:
    """A folder of the repository tree: its label, the repository of that full name if one
    exists, and the folders below it."""

    label: str
    path: str
    repository: bool = False
    children: dict[str, TreeNode] = field(default_factory=dict)


def _json(body: bytes) -> dict[str, object]:
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _descriptor(value: object) -> Layer | None:
    if not isinstance(value, dict):
        return None
    digest, size = value.get("digest"), value.get("size")
    if not isinstance(digest, str) or not isinstance(size, int):
        return None
    return Layer(str(value.get("mediaType", "")), digest, size)


def layers_of(body: bytes) -> tuple[Layer | None, tuple[Layer, ...]]:
    """A manifest's config descriptor (None for an index) and its layers (or blobs)."""
    doc = _json(body)
    config = _descriptor(doc.get("config"))
    raw = doc.get("layers") or doc.get("blobs") or []
    found = [_descriptor(item) for item in raw] if isinstance(raw, list) else []
    return config, tuple(layer for layer in found if layer is not None)


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


async def image_config(driver: StorageDriver, config: Layer | None) -> ImageConfig:
    """The config a manifest names, as far as it is an image config; empty otherwise."""
    if config is None or config.size > _MAX_CONFIG_BYTES:
        return ImageConfig()
    try:
        key = blob_key(Digest.parse(config.digest))
    except OciValueError:
        return ImageConfig()
    parts: list[bytes] = []
    try:
        async for chunk in driver.read(key, 0, config.size):
            parts.append(chunk)
    except ObjectNotFound:
        return ImageConfig()
    doc = _json(b"".join(parts))
    inner = doc.get("config")
    inner = inner if isinstance(inner, dict) else {}
    labels = inner.get("Labels")
    return ImageConfig(
        created=str(doc.get("created", "")),
        entrypoint=_strings(inner.get("Entrypoint")),
        command=_strings(inner.get("Cmd")),
        env=_strings(inner.get("Env")),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items()))
        if isinstance(labels, dict)
        else (),
    )


def tree_of(names: list[str], prefix: str) -> TreeNode:
    """The repositories `names` (all under `prefix`) as a tree of their path segments."""
    root = TreeNode(prefix.rstrip("/"), prefix.rstrip("/"))
    for name in names:
        node = root
        rest = name[len(prefix) :] if name.startswith(prefix) else name
        walked = prefix
        for segment in rest.split("/"):
            walked = f"{walked}{segment}"
            node = node.children.setdefault(segment, TreeNode(segment, walked))
            walked += "/"
        node.repository = True
    return root
