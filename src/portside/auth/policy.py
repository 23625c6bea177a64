"""The authorizer seam: every /v2/ request passes through `Authorizer.authorize` first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from portside.auth.scopes import Scope

__all__ = ["AccessRequest", "AllowAll", "Authorizer", "Grant"]


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """What a request needs: its registry, its credentials, the scopes its route requires."""

    registry: str
    authorization: str | None
    required: tuple[Scope, ...]


class Grant(Protocol):
    """What the caller was found to be allowed, for checks a handler makes on the side."""

    def allows(self, scope_type: str, name: str, action: str) -> bool:
        """True if `action` on `name` is granted."""
        ...


class Authorizer(Protocol):
    """Decides a request. Raises Unauthorized or Denied, or returns the caller's grant."""

    async def authorize(self, request: AccessRequest) -> Grant:
        """Check `request.required` and return the grant for optional checks."""
        ...


class _Everything:
    def allows(self, scope_type: str, name: str, action: str) -> bool:
        return True


class AllowAll:
    """Grants every action: the anonymous development registry on loopback."""

    async def authorize(self, request: AccessRequest) -> Grant:
        """Allow."""
        return _Everything()
