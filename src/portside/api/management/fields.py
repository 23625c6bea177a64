"""Field definitions that several management bodies share, so that one limit has one home."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portside.services.management.context import MAX_EXPIRY_DAYS

__all__ = [
    "Count",
    "Days",
    "Name",
    "RepositoryPattern",
    "ResourceName",
    "ScopeMapName",
    "TokenStatus",
]

Days = Field(None, ge=1, le=MAX_EXPIRY_DAYS, description="Validity of generated secrets.")
"""Days a generated secret stays valid (none: no expiry)."""
Name = Field(min_length=1, max_length=128)
"""A service principal's name."""
ResourceName = Field(min_length=1, max_length=64)
"""A new registry's, token's or scope map's name."""
ScopeMapName = Field(None, max_length=64)
"""The scope map a token is bound to."""
RepositoryPattern = Field("*", min_length=1, max_length=300)
"""The repositories a role or rule covers: `*`, a repository or `prefix/*`."""
Count = Field(None, ge=0, le=(1 << 31) - 1)
"""A count quota override (none: the SKU's default)."""
TokenStatus = Literal["enabled", "disabled"]
"""Whether a token may sign in."""
