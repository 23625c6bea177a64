"""Manifest parsing: what a manifest references, checked against the image spec's schema."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from portside.oci import media_types as mt
from portside.oci.digests import Digest
from portside.oci.errors import DigestInvalid, ManifestInvalid, ManifestTooLarge

__all__ = ["MAX_MANIFEST_BYTES", "Descriptor", "ParsedManifest", "parse_manifest"]

# The distribution spec says registries SHOULD accept manifests up to at least 4 MiB.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor: what a manifest says about one referenced object."""

    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: dict[str, Any] | None = None
    foreign: bool = False


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    """The facts Portside stores about a manifest, parsed from its bytes."""

    media_type: str
    blobs: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifact_type: str | None
    annotations: dict[str, str] = field(default_factory=dict)
    config: Descriptor | None = None

    @property
    def is_index(self) -> bool:
        """True for image indexes and Docker manifest lists."""
        return self.media_type in mt.INDEX_TYPES


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Parse and validate a manifest; raise ManifestInvalid with a reason a person can act on."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestTooLarge(f"manifest larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        # Strict UTF-8 first (RFC 8259 §8.1): json.loads(bytes) would also guess UTF-16/32.
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestInvalid("manifest is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers over Python's digit limit;
        # RecursionError, absurdly deep nesting.
        raise ManifestInvalid(f"manifest is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("only schemaVersion 2 manifests are supported")
    media_type = _media_type(doc, content_type)
    annotations = _annotations(doc.get("annotations"), "annotations")
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = _optional_str(doc.get("artifactType"), "artifactType")
    if media_type in mt.INDEX_TYPES:
        children = tuple(
            _descriptor(d, f"manifests[{i}]") for i, d in enumerate(_list(doc, "manifests"))
        )
        return ParsedManifest(media_type, (), children, subject, artifact_type, annotations)
    if "config" not in doc:
        raise ManifestInvalid("image manifest has no config descriptor")
    config = _descriptor(doc["config"], "config")
    layers = tuple(_descriptor(d, f"layers[{i}]") for i, d in enumerate(_list(doc, "layers")))
    if artifact_type is None:
        # distribution-spec 1.1 (referrers): without artifactType, the config's media type
        # stands in for it.
        artifact_type = config.media_type
    blobs = (config, *(layer for layer in layers if not layer.foreign))
    return ParsedManifest(media_type, blobs, (), subject, artifact_type, annotations, config)


def _media_type(doc: dict[str, Any], content_type: str | None) -> str:
    declared = doc.get("mediaType")
    header = (content_type or "").split(";")[0].strip() or None
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    if declared and header and declared != header:
        raise ManifestInvalid(f"mediaType {declared!r} does not match Content-Type {header!r}")
    chosen = declared or header
    if chosen is None:
        chosen = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
    if chosen not in mt.MANIFEST_TYPES:
        raise ManifestInvalid(f"unsupported manifest media type {chosen!r}")
    return chosen


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise ManifestInvalid(f"{key} must be a list")
    return value


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type = raw.get("mediaType")
    size = raw.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    try:
        raw_digest = raw.get("digest")
        digest = Digest.parse(raw_digest if isinstance(raw_digest, str) else "")
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}.digest: {exc}") from None
    platform = raw.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise ManifestInvalid(f"{where}.platform must be an object")
    urls = raw.get("urls")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=_optional_str(raw.get("artifactType"), f"{where}.artifactType"),
        annotations=_annotations(raw.get("annotations"), f"{where}.annotations") or None,
        platform=platform,
        foreign=media_type in _FOREIGN_LAYERS or bool(urls),
    )


def _annotations(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ManifestInvalid(f"{where} must map strings to strings")
    return dict(raw)


def _optional_str(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ManifestInvalid(f"{where} must be a string")
    return raw or None
