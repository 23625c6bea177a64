"""Where an operation applies: a repository inside a registry."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """A repository `repository` inside registry `registry_id` (the name is validated)."""

    registry_id: int
    repository: str
