"""Token authentication against an upstream registry, as Docker speaks it.

An upstream answers 401 with `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`;
the client then GETs the realm with `service` and `scope` (with Basic credentials if it has
some, anonymously otherwise) and repeats its request with the token it got. An upstream that
answers `WWW-Authenticate: Basic` wants the credentials on every request instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["Challenge", "parse_challenge", "retry_after_seconds"]

_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))')


@dataclass(frozen=True, slots=True)
class Challenge:
    """One parsed `WWW-Authenticate` challenge: its scheme (lower case) and parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` header; None if there is none."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        match.group(1).lower(): (
            match.group(2).replace('\\"', '"') if match.group(2) is not None else match.group(3)
        )
        for match in _PARAM.finditer(rest[:4096])
    }
    return Challenge(scheme.lower(), params)


def retry_after_seconds(header: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta seconds or an HTTP date); None if absent."""
    if not header:
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
