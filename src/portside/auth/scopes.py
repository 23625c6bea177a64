"""Access scopes in Docker's token-auth form: `repository:<name>:pull,push`.

A scope string is `type:name:actions`. The type is everything before the first colon (with an
optional `(class)` suffix, as in `repository(plugin):x:pull`, which is dropped); the actions are
everything after the last colon, comma-separated; the name is what lies between.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from portside.oci.errors import NameInvalid
from portside.oci.names import validate_name

__all__ = ["MAX_SCOPES", "MAX_SCOPE_LENGTH", "SCOPE_TYPES", "Scope", "ScopeError", "parse_scopes"]

MAX_SCOPE_LENGTH = 1024
"""Longest scope string accepted (a repository name is at most 255 characters)."""

MAX_SCOPES = 64
"""Most scopes one request may ask for."""

SCOPE_TYPES = frozenset({"repository", "registry"})
"""Resource types a scope may name."""

_TYPE = re.compile(r"([a-z]+)(?:\([a-z0-9._-]+\))?")
_ACTION = re.compile(r"[a-z_*]+")
# Registry-level resources are fixed words (`catalog`); nothing else needs more than this.
_REGISTRY_NAME = re.compile(r"[a-z0-9._-]+")
_WORD = re.compile(r"\S+")


class ScopeError(ValueError):
    """A scope string that cannot be parsed."""


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

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse one `type:name:actions` scope string; raise ScopeError if it is malformed."""
        if len(text) > MAX_SCOPE_LENGTH:
            raise ScopeError(f"scope longer than {MAX_SCOPE_LENGTH} characters")
        first = text.find(":")
        last = text.rfind(":")
        if first < 0 or last == first:
            raise ScopeError("scope must have the form type:name:actions")
        raw_type, name, raw_actions = text[:first], text[first + 1 : last], text[last + 1 :]
        type_match = _TYPE.fullmatch(raw_type)
        if type_match is None or type_match.group(1) not in SCOPE_TYPES:
            raise ScopeError(f"unknown scope type {raw_type[:40]!r}")
        scope_type = type_match.group(1)
        if not name:
            raise ScopeError("scope has an empty name")
        if scope_type == "repository":
            try:
                validate_name(name)
            except NameInvalid as error:
                raise ScopeError(str(error)) from None
        elif not _REGISTRY_NAME.fullmatch(name):
            raise ScopeError(f"invalid registry resource {name[:40]!r}")
        if not raw_actions:
            raise ScopeError("scope names no actions")
        actions = raw_actions.split(",")
        for action in actions:
            if not _ACTION.fullmatch(action):
                raise ScopeError(f"invalid action {action[:40]!r}")
        return cls(scope_type, name, frozenset(actions))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    """Parse `scope` parameters, each holding one or more space-separated scopes.

    Scopes naming the same resource are merged (union of actions), in first-seen order.
    Raises ScopeError for a malformed scope or more than MAX_SCOPES in total.
    """
    texts: list[str] = []
    for value in values:
        for match in _WORD.finditer(value):
            texts.append(match.group())
            if len(texts) > MAX_SCOPES:
                raise ScopeError(f"more than {MAX_SCOPES} scopes")
    merged: dict[tuple[str, str], frozenset[str]] = {}
    for text in texts:
        scope = Scope.parse(text)
        key = (scope.type, scope.name)
        merged[key] = merged.get(key, frozenset()) | scope.actions
    return tuple(Scope(kind, name, actions) for (kind, name), actions in merged.items())
