"""Errors of the pull-through cache, as the data plane answers them (api/errors.py).

RegistryError (services/errors.py)
├── CachePushRefused       a push under a cache rule's target that the rule does not allow
└── CacheUpstreamFailed    the upstream of a rule failed and nothing cached can answer (502)
    └── CacheUpstreamBusy  the upstream is rate limiting or unavailable (503, `retry_after`)

An upstream that has no such manifest or blob is not a failure: it answers
MANIFEST_UNKNOWN or BLOB_UNKNOWN, with a message that names the rule and the upstream.
"""

from __future__ import annotations

from typing import Any

from portside.services.errors import RegistryError

__all__ = ["CachePushRefused", "CacheUpstreamBusy", "CacheUpstreamFailed"]


class CachePushRefused(RegistryError):
    """The repository is served by a cache rule that does not allow pushes."""


class CacheUpstreamFailed(RegistryError):
    """The rule's upstream could not serve what is not cached."""


class CacheUpstreamBusy(CacheUpstreamFailed):
    """The rule's upstream is rate limiting or unavailable; `retry_after` is its advice."""

    def __init__(self, message: str, detail: Any = None, retry_after: float | None = None) -> None:
        super().__init__(message, detail)
        self.retry_after = retry_after
