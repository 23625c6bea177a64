"""Cache rule matching: exact rules before prefixes, the longest prefix first, any depth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import anyio
import pytest

from portside.metadata.cache_rules import CacheRuleRecord
from portside.services.content.targets import Target
from portside.services.imports.cache import PullThrough
from portside.services.imports.cache_rules import match_rule, split_source
from portside.services.management.errors import Invalid

_NOW = datetime(2026, 12, 6, tzinfo=UTC)


def rule(name: str, source: str, target: str) -> CacheRuleRecord:
    """A rule record as the store returns it."""
    return CacheRuleRecord(1, 1, "default", name, source, target, None, 60, False, _NOW, _NOW)


RULES = [
    rule("hub", "docker.io/library/*", "hub/*"),
    rule("hubdeep", "mirror.example:5000/special/*", "hub/special/*"),
    rule("ubuntu", "docker.io/library/ubuntu", "hub/ubuntu"),
    rule("ghcr", "ghcr.io/org/*", "org/*"),
]


@pytest.mark.parametrize(
    ("repository", "name", "host", "upstream"),
    [
        ("hub/alpine", "hub", "docker.io", "library/alpine"),
        ("hub/ubuntu", "ubuntu", "docker.io", "library/ubuntu"),
        ("hub/special/x", "hubdeep", "mirror.example:5000", "special/x"),
        ("hub/special/x/y/z", "hubdeep", "mirror.example:5000", "special/x/y/z"),
        ("org/team/sub/app", "ghcr", "ghcr.io", "org/team/sub/app"),
    ],
)
def test_the_most_specific_rule_serves(
    repository: str, name: str, host: str, upstream: str
) -> None:
    found = match_rule(RULES, repository)
    assert found is not None
    assert (found.rule.name, found.host, found.upstream_repository) == (name, host, upstream)


@pytest.mark.parametrize("repository", ["hub", "hubx/alpine", "org", "other/app", "hub2/a"])
def test_repositories_outside_every_target_have_no_rule(repository: str) -> None:
    assert match_rule(RULES, repository) is None


@pytest.mark.parametrize(
    "source",
    ["library/ubuntu", "docker.io", "docker.io/", "https://docker.io/x", "docker.io/UP", "h.io/a*"],
)
def test_bad_sources_are_invalid(source: str) -> None:
    with pytest.raises(Invalid):
        split_source(source)


def test_localhost_and_ports_are_hosts() -> None:
    assert split_source("localhost:5000/a/b/*") == ("localhost:5000", "a/b/*")
    assert split_source("127.0.0.1:5000/a") == ("127.0.0.1:5000", "a")


class _SlowRules:
    """A rule store whose first read waits until released; later reads answer at once."""

    def __init__(self) -> None:
        self.rules: list[CacheRuleRecord] = []
        self.reading = anyio.Event()
        self.release = anyio.Event()

    async def list(self, registry_id: int) -> list[CacheRuleRecord]:
        """The rules as they were when the read began."""
        answer = list(self.rules)
        if not self.reading.is_set():
            self.reading.set()
            await self.release.wait()
        return answer


@pytest.mark.anyio
async def test_a_rule_created_during_a_read_serves_at_once() -> None:
    """A read of the rules begun before a change must not hide the change for a refresh."""
    store = _SlowRules()
    cache = PullThrough(
        cast(Any, store), cast(Any, None), cast(Any, None), cast(Any, None), cast(Any, None)
    )
    target = Target(1, "hub/alpine")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(cache.match, target)
        await store.reading.wait()
        store.rules = [RULES[0]]
        cache.forget_rules(1)
        store.release.set()
    found = await cache.match(target)
    assert found is not None and found.rule.name == "hub"
