"""Access scopes in Docker's token-auth form: `repository:<name>:pull,push`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Scope"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Actions wanted on one resource (`repository` or `registry`)."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def repository(cls, name: str, *actions: str) -> Scope:
        """A repository scope."""
        return cls("repository", name, frozenset(actions))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"
