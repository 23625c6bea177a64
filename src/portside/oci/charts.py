"""Helm charts stored as OCI artifacts: recognising one and naming it for webhook events.

Helm (3.8+) pushes a chart as an image manifest whose config descriptor has Helm's media
type and whose config blob is the chart's metadata (Chart.yaml as JSON: `name`, `version`).
Helm also sets the manifest annotations `org.opencontainers.image.title` and `.version` to
the same values, which is what a deletion (which cannot read blobs) names the chart by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHART_CONFIG_MAX_BYTES",
    "HELM_CONFIG_MEDIA_TYPE",
    "ChartRef",
    "chart_from_config",
    "chart_from_manifest",
    "fallback_chart",
]

HELM_CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"

CHART_CONFIG_MAX_BYTES = 64 * 1024
"""How much of a chart's config blob is read: Chart.yaml as JSON is a few hundred bytes."""

_TITLE = "org.opencontainers.image.title"
_VERSION = "org.opencontainers.image.version"


@dataclass(frozen=True, slots=True)
class ChartRef:
    """A chart's name and version, as ACR's chart events report them."""

    name: str
    version: str


def fallback_chart(repository: str, tag: str | None) -> ChartRef:
    """The name and version a chart gets when its own cannot be read: the repository's last
    path segment (Helm pushes `oci://host/path` + chart name) and the tag (Helm's tag is the
    chart version)."""
    return ChartRef(repository.rsplit("/", 1)[-1], tag or "")


def _text(doc: Any, key: str) -> str | None:
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


def chart_from_config(config: bytes | None, repository: str, tag: str | None) -> ChartRef:
    """The chart named by its config blob (`name`, `version`), else the fallback."""
    fallback = fallback_chart(repository, tag)
    if config is None or len(config) > CHART_CONFIG_MAX_BYTES:
        return fallback
    try:
        doc = json.loads(config)
    except ValueError:  # not JSON, or not UTF-8
        return fallback
    return ChartRef(_text(doc, "name") or fallback.name, _text(doc, "version") or fallback.version)


def chart_from_manifest(body: bytes, repository: str, tag: str | None) -> ChartRef | None:
    """The chart a stored manifest holds, named by Helm's annotations (else the fallback);
    None unless its config has Helm's media type."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    config = doc.get("config") if isinstance(doc, dict) else None
    if _text(config, "mediaType") != HELM_CONFIG_MEDIA_TYPE:
        return None
    annotations = doc.get("annotations")
    fallback = fallback_chart(repository, tag)
    return ChartRef(
        _text(annotations, _TITLE) or fallback.name,
        _text(annotations, _VERSION) or fallback.version,
    )
