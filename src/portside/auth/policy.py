"""What handlers may ask of the caller's grant, for checks they make on the side."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Grant"]


class Grant(Protocol):
    """What the caller was found to be allowed (auth.permissions.AccessGrant implements it)."""

    def allows(self, scope_type: str, name: str, action: str) -> bool:
        """True if `action` on `name` is granted."""
        ...
