"""Errors raised by authentication and authorization.

AuthError
├── Unauthorized   no or bad credentials: the client should authenticate (401)
└── Denied         authenticated, but not allowed (403)
"""

from __future__ import annotations

from portside.auth.scopes import Scope

__all__ = ["AuthError", "Denied", "Unauthorized"]


class AuthError(Exception):
    """Base class of access failures."""

    def __init__(self, message: str, scopes: tuple[Scope, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.scopes = scopes


class Unauthorized(AuthError):
    """Credentials are missing or invalid."""


class Denied(AuthError):
    """The identity may not perform the requested action."""
