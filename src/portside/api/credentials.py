"""Reading the `Authorization` header: the one place it is parsed, for every route.

The data plane, the token endpoint and the management API all take the typed value this returns
(`auth.credentials`); none of them looks at the header itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from portside.auth.credentials import (
    MAX_AUTHORIZATION_LENGTH,
    Basic,
    Bearer,
    Credentials,
    Malformed,
)

__all__ = ["credentials_of"]


def credentials_of(headers: Mapping[str, str]) -> Credentials:
    """The credentials of a request's headers: None without any, Malformed if unreadable."""
    header = headers.get("authorization")
    if not header:
        return None
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        return Malformed("authorization header too long")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "basic":
        return _basic(value)
    if scheme.lower() == "bearer":
        return Bearer(value.strip())
    return Malformed("unsupported authorization scheme")


def _basic(value: str) -> Basic | Malformed:
    """Decode `base64(user:password)`; the password may hold colons, the user name not."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return Malformed("malformed basic credentials")
    username, colon, password = decoded.partition(":")
    if not colon:
        return Malformed("malformed basic credentials")
    return Basic(username, password)
