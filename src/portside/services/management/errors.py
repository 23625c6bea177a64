"""Errors of the management service (registries, identities, tokens, scope maps, roles).

ManagementError
├── Invalid           the request itself is wrong: a bad name, action, role, pattern (400)
├── NotFound          the registry, token, scope map, principal... does not exist (404)
└── Conflict          the request clashes with what exists: a taken name, a map in use (409)
    └── QuotaReached  the registry is at its tokens or scope-maps quota (409 QuotaExceeded)

The data plane's quota refusal is services.errors.QuotaExceeded (403 DENIED); the stores'
is metadata.errors.QuotaViolation.
"""

from __future__ import annotations

__all__ = ["Conflict", "Invalid", "ManagementError", "NotFound", "QuotaReached"]


class ManagementError(Exception):
    """Base class of management failures; `message` is safe to show to the caller."""

    code = "ManagementError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(ManagementError):
    """The request is malformed or names something impossible."""

    code = "InvalidRequest"


class NotFound(ManagementError):
    """What the request names does not exist."""

    code = "ResourceNotFound"


class Conflict(ManagementError):
    """The request conflicts with the current state."""

    code = "Conflict"


class QuotaReached(Conflict):
    """The registry already has as many of something (tokens, scope maps) as it may."""

    code = "QuotaExceeded"  # ACR's code for it
