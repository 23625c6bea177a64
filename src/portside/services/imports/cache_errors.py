"""Errors of the pull-through cache, as the data plane answers them (api/errors.py).

RegistryError (services/errors.py)
├── CachePushRefused              a push under a rule's target the rule does not allow (403)
├── CacheUpstreamBusy             the rule's upstream is rate limiting (429, `retry_after`)
├── ManifestUnknown
│   └── CacheManifestUnavailable  not cached, and the upstream failed (404 MANIFEST_UNKNOWN)
└── BlobUnknown
    └── CacheBlobUnavailable      not cached, and the upstream failed (404 BLOB_UNKNOWN)

Every message names the rule and the upstream. An upstream that failed answers a 404 rather
than a 502: docker, skopeo and podman print the message of a 4xx but only the status line of a
5xx ("received unexpected HTTP status: 502 Bad Gateway"), which would hide which rule and
which upstream failed. A rate limit is passed on as the 429 Docker Hub itself answers.
"""

from __future__ import annotations

from typing import Any

from portside.services.errors import BlobUnknown, ManifestUnknown, RegistryError

__all__ = [
    "CacheBlobUnavailable",
    "CacheManifestUnavailable",
    "CachePushRefused",
    "CacheUpstreamBusy",
]


class CachePushRefused(RegistryError):
    """The repository is served by a cache rule that does not allow pushes."""


class CacheUpstreamBusy(RegistryError):
    """The rule's upstream is rate limiting; `retry_after` is its advice in seconds."""

    def __init__(self, message: str, detail: Any = None, retry_after: float | None = None) -> None:
        super().__init__(message, detail)
        self.retry_after = retry_after


class CacheManifestUnavailable(ManifestUnknown):
    """A manifest not cached that the rule's upstream could not serve."""


class CacheBlobUnavailable(BlobUnknown):
    """A blob not cached that the rule's upstream could not serve."""
