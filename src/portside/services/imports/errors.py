"""Errors of imports, credential sets and upstream registries.

UpstreamError               an upstream registry failed us; names the upstream (`upstream`)
├── UpstreamRefused         the deployment does not let Portside call it (private address,
│                           plain HTTP to a host not listed in `insecure_upstreams`)
├── UpstreamUnreachable     connection refused, timed out, or a 5xx answer
├── UpstreamUnauthorized    it refused the credentials (or anonymous access)
├── UpstreamNotFound        no such repository, manifest, blob or tag there
├── UpstreamRateLimited     429/503 still answered after the bounded retries (`retry_after`)
└── UpstreamInvalid         an answer that breaks the protocol: too large, malformed
    └── UpstreamDigestMismatch  bytes that do not hash to the digest they were asked by

Errors carry values (the upstream, a retry delay), never HTTP headers. The management API maps
them in api/management/errors.py, the data plane in api/errors.py.
"""

from __future__ import annotations

__all__ = [
    "UpstreamDigestMismatch",
    "UpstreamError",
    "UpstreamInvalid",
    "UpstreamNotFound",
    "UpstreamRateLimited",
    "UpstreamRefused",
    "UpstreamUnauthorized",
    "UpstreamUnreachable",
]


class UpstreamError(Exception):
    """Base class: `message` is safe to show to the caller and names `upstream`."""

    def __init__(self, upstream: str, message: str) -> None:
        super().__init__(f"upstream {upstream}: {message}")
        self.upstream = upstream
        self.message = f"upstream {upstream}: {message}"


class UpstreamRefused(UpstreamError):
    """The deployment's address policy forbids calling this upstream."""


class UpstreamUnreachable(UpstreamError):
    """The upstream could not be reached, or failed on its side."""


class UpstreamUnauthorized(UpstreamError):
    """The upstream refused the credentials, or requires some."""


class UpstreamNotFound(UpstreamError):
    """The upstream has no such repository, manifest or blob."""


class UpstreamRateLimited(UpstreamError):
    """The upstream kept answering 429 or 503; `retry_after` is its last advice in seconds."""

    def __init__(self, upstream: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(upstream, message)
        self.retry_after = retry_after


class UpstreamInvalid(UpstreamError):
    """The upstream answered something that breaks the distribution protocol."""


class UpstreamDigestMismatch(UpstreamInvalid):
    """Bytes from the upstream do not hash to the digest they were fetched by."""
