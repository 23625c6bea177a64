"""Purge, as ACR's `acr purge`: delete the tags matching filters that are older than an age,
keeping the newest N of them per repository, and optionally the untagged manifests.

- A filter is `repo-regex:tag-regex` (split at the first `:`). As in acr purge, the repository
  expression must match the whole name and the tag expression only has to occur in the tag
  (anchor it with `^...$`). Expressions are RE2's, as acr purge's (Go's regexp is RE2):
  matching takes time linear in the name, so no expression a user writes can stall the event
  loop, as a backtracking engine does on `(a|a)*b`. RE2 has no backreferences or lookarounds:
  such an expression is refused with a message saying so.
- `ago` is a duration such as `2d3h15m` (units d, h, m, s; decimals allowed): only tags last
  updated before now minus that go; `0` means every matching tag.
- All the filters whose repository expression matches a repository act there as one
  expression, their tag expressions joined with `|`, as acr purge joins them; `keep` keeps the
  newest N of the tags that would go in each repository (not N per filter), as `--keep` does
  in acr purge; locked tags are never among those that would go.
- `untagged` also deletes the untagged manifests of the matching repositories, after the
  tags (so manifests the purge untagged go too), whatever their age; children of an index
  and referrers of a manifest stay with them (metadata/pruning.py).
- Locked tags and manifests are skipped and reported. Everything goes through the normal
  deletion (metadata/deletion.py): cascades apply, and under soft delete it lands in the
  recycle bin.
- `dry_run` reports what would go (cascades included) and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from portside.metadata.clock import utcnow
from portside.metadata.deletion import Removal
from portside.metadata.pruning import PruneStore, TagInfo
from portside.services.management.errors import Invalid

__all__ = [
    "MAX_FILTERS",
    "Expression",
    "PurgeFilter",
    "PurgeRequest",
    "PurgeResult",
    "Purger",
    "compile_expression",
    "parse_ago",
    "parse_filter",
]

MAX_FILTERS = 50
"""Most filters one purge takes."""

_MAX_EXPRESSION = 300
_BATCH = 1000
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([dhms]))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
# What RE2 leaves out on purpose (it would need backtracking), told apart by RE2's message.
_UNSUPPORTED = (
    (re.compile(r"invalid perl operator: \(\?<?[=!]"), "lookaround"),
    (
        re.compile(r"invalid escape sequence: \\[1-9k]|invalid perl operator: \(\?P$"),
        "backreference",
    ),
)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_MAX_AGO = timedelta(days=36500)


@dataclass(frozen=True, slots=True)
class Expression:
    """A user's regular expression, compiled by RE2: matching is linear in the text."""

    pattern: str
    # re2 ships no type information; this class is its typed face.
    _compiled: Any = field(repr=False, compare=False)

    def search(self, text: str) -> bool:
        """Whether the expression occurs somewhere in `text`."""
        return self._compiled.search(text) is not None

    def fullmatch(self, text: str) -> bool:
        """Whether the expression matches the whole of `text`."""
        return self._compiled.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class PurgeFilter:
    """A parsed `repo-regex:tag-regex` filter."""

    text: str
    repository: Expression
    tag: Expression


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    """What to purge (see the module docstring)."""

    filters: Sequence[str]
    ago: str
    keep: int = 0
    untagged: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What went (or, in a dry run, would go) and what locks kept, in the order done."""

    dry_run: bool
    items: tuple[Removal, ...]


def compile_expression(text: str, what: str) -> Expression:
    """A regular expression (RE2 syntax) from user input; Invalid if too long or malformed."""
    if len(text) > _MAX_EXPRESSION:
        raise Invalid(f"{what} is longer than {_MAX_EXPRESSION} characters")
    # Imported here: RE2 (~2 MiB resident) is for purge filters, which few workers compile.
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused expression on stderr
    try:
        return Expression(text, re2.compile(text, options))
    except re2.error as error:
        raise Invalid(_refusal(text, what, error)) from None


def _refusal(text: str, what: str, error: Exception) -> str:
    reason = error.args[0] if error.args else error
    if isinstance(reason, bytes):
        reason = reason.decode(errors="replace")
    message = f"{what} {text[:60]!r} is not a valid RE2 regular expression: {reason}"
    unsupported = [name for marker, name in _UNSUPPORTED if marker.search(str(reason))]
    if unsupported:
        message += (
            f" (RE2, as acr purge uses, has no {unsupported[0]}s: they need backtracking, "
            "whose time can grow exponentially with the name)"
        )
    return message


def parse_filter(text: str) -> PurgeFilter:
    """Parse `repo-regex:tag-regex`; Invalid if malformed."""
    repository, colon, tag = text.partition(":")
    if not colon or not repository or not tag:
        raise Invalid(f"filter {text[:80]!r} must be REPOSITORY-REGEX:TAG-REGEX")
    return PurgeFilter(
        text,
        compile_expression(repository, "repository expression"),
        compile_expression(tag, "tag expression"),
    )


def parse_ago(text: str) -> timedelta:
    """A duration such as `2d3h15m` (d, h, m, s; `0` alone is zero); Invalid otherwise."""
    value = text.strip()
    if value == "0":
        return timedelta(0)
    if not _DURATION.fullmatch(value):
        raise Invalid(
            f"ago {text[:40]!r} is not a duration: use numbers with units d, h, m, s "
            "(such as 2d3h15m), or 0 for every matching tag"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(value))
    if seconds > _MAX_AGO.total_seconds():
        raise Invalid(f"ago {text[:40]!r} is longer than {_MAX_AGO.days} days")
    return timedelta(seconds=seconds)


class Purger:
    """Runs purges over the pruning store."""

    def __init__(self, prune: PruneStore) -> None:
        self._prune = prune

    async def run(self, registry_id: int, request: PurgeRequest) -> PurgeResult:
        """Purge the registry as asked; Invalid for bad filters, durations or counts."""
        if not request.filters:
            raise Invalid("give at least one filter")
        if len(request.filters) > MAX_FILTERS:
            raise Invalid(f"at most {MAX_FILTERS} filters")
        if request.keep < 0:
            raise Invalid("keep must not be negative")
        filters = [parse_filter(text) for text in request.filters]
        cutoff = utcnow() - parse_ago(request.ago)
        items: list[Removal] = []
        for repository in await self._prune.repositories(registry_id):
            matching = [f for f in filters if f.repository.fullmatch(repository)]
            if matching:
                items += await self._repository(registry_id, repository, matching, cutoff, request)
        return PurgeResult(request.dry_run, tuple(items))

    async def _repository(
        self,
        registry_id: int,
        repository: str,
        filters: list[PurgeFilter],
        cutoff: datetime,
        request: PurgeRequest,
    ) -> list[Removal]:
        items: list[Removal] = []
        chosen: dict[str, tuple[TagInfo, str]] = {}
        locked: dict[str, tuple[TagInfo, str]] = {}
        # As acr purge, all the filters of one repository act as one expression (their tag
        # expressions joined by `|`): a tag matching several counts once, and `keep` keeps the
        # newest N of the repository's eligible tags, not N per filter.
        unlocked: list[tuple[TagInfo, str]] = []
        for info in await self._prune.tags(registry_id, repository):
            matched = next((f for f in filters if f.tag.search(info.name)), None)
            if matched is None or info.updated_at > cutoff:
                continue
            reason = f"filter {matched.text}"
            if info.locked:
                locked[info.name] = (info, reason)
            else:
                unlocked.append((info, reason))
        for info, reason in unlocked[request.keep :]:
            chosen[info.name] = (info, reason)
        for info, reason in locked.values():
            items.append(Removal(repository, "tag", info.digest, (info.name,), reason, info.locked))
        for info, reason in sorted(chosen.values(), key=lambda pair: pair[0].updated_at):
            if request.dry_run:
                items.append(Removal(repository, "tag", info.digest, (info.name,), reason))
                continue
            removal = await self._prune.delete_tag(
                registry_id, repository, info.name, info.digest, reason
            )
            if removal is not None:
                items.append(removal)
        if request.untagged:
            items += await self._untagged(registry_id, repository, set(chosen), request.dry_run)
        return items

    async def _untagged(
        self, registry_id: int, repository: str, untagging: set[str], dry_run: bool
    ) -> list[Removal]:
        items: list[Removal] = []
        after = 0
        while True:
            found = await self._prune.untagged(
                registry_id,
                repository=repository,
                after_id=after,
                limit=_BATCH,
                ignore_tags=untagging if dry_run else (),
            )
            if dry_run:
                items += await self._prune.preview(
                    registry_id,
                    repository,
                    [m.digest for m in found],
                    reason="untagged",
                    ignore_tags=untagging,
                )
            else:
                for candidate in found:
                    items += await self._prune.delete_untagged(
                        registry_id, repository, candidate.digest, before=None, reason="untagged"
                    )
            if len(found) < _BATCH:
                return items
            after = found[-1].id
