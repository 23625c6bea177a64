"""Errors raised by authentication and authorization.

AuthError
├── Unauthorized   no or bad credentials: the client should authenticate (401)
├── Denied         authenticated, but not allowed (403)
└── Throttled      too many failed logins for this user name: retry later (429)

Errors carry values (scopes, seconds to wait, the challenge to answer with), not header
maps: api/ writes the headers from them.
"""

from __future__ import annotations

from portside.auth.scopes import Scope

__all__ = ["AuthError", "Denied", "Throttled", "Unauthorized"]


class AuthError(Exception):
    """Base class of access failures."""

    def __init__(self, message: str, scopes: tuple[Scope, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.scopes = scopes


class Unauthorized(AuthError):
    """Credentials are missing or invalid.

    `insufficient` marks a valid bearer token that lacks the scope: the client should fetch a
    new token for it (Docker's `error="insufficient_scope"` challenge). `challenge` is how to
    authenticate (RFC 9110's WWW-Authenticate value), when the edge that refused knows it.
    """

    def __init__(
        self, message: str, scopes: tuple[Scope, ...] = (), *, insufficient: bool = False
    ) -> None:
        super().__init__(message, scopes)
        self.insufficient = insufficient
        self.challenge: str | None = None


class Denied(AuthError):
    """The identity may not perform the requested action."""


class Throttled(AuthError):
    """Too many failed logins: the caller must wait `retry_after` whole seconds (at least 1)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, round(retry_after))
