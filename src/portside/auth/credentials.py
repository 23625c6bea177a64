"""What a request's `Authorization` header carries, once read: Basic, Bearer, or nothing usable.

The header is read in one place (`api.credentials.credentials_of`); everything below the HTTP
layer receives one of these values. A header that cannot be read is not an error yet: it
becomes `Malformed`, and refusing it (401) is up to the step that needs credentials, so that
requests which never look at the header (a token request with a password in its form) or that
fail earlier (an unknown host, an invalid scope) answer as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portside.auth.errors import Unauthorized

__all__ = ["MAX_AUTHORIZATION_LENGTH", "Basic", "Bearer", "Credentials", "Malformed"]

MAX_AUTHORIZATION_LENGTH = 8192
"""Longest `Authorization` header read, in characters; a longer one is `Malformed`."""


@dataclass(frozen=True, slots=True)
class Basic:
    """HTTP Basic credentials: a user name and a password (or the null GUID and a refresh token)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Bearer:
    """A bearer token (for Portside, an access token it issued)."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Malformed:
    """An `Authorization` header that names no usable credentials, and why."""

    reason: str

    def error(self) -> Unauthorized:
        """What refusing these credentials raises."""
        return Unauthorized(self.reason)


Credentials = Basic | Bearer | Malformed | None
"""What a request presents; None when it sends no `Authorization` header (or an empty one)."""
