"""`portside cache ...` against the management API, and its refusals as clear 400s/409s."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from portside.config import Settings
from tests.cli.harness import CliHarness
from tests.management_harness import API, management_harness


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a management app."""
    with management_harness(settings) as harness:
        yield CliHarness(harness)


def as_json(portside: CliHarness, *args: str) -> object:
    """Run a command with `-o json` and decode its output."""
    result = portside(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cache_commands(portside: CliHarness) -> None:
    created = as_json(
        portside,
        "cache", "create", "-r", "default", "-n", "hub-library",
        "--source-repo", "docker.io/library/*", "--target-repo", "hub/*", "--ttl", "600",
    )  # fmt: skip
    assert isinstance(created, dict)
    assert created["sourceRepository"] == "docker.io/library/*"
    assert created["ttlSeconds"] == 600 and created["allowPush"] is False
    table = portside("cache", "list", "-r", "default")
    assert table.exit_code == 0 and "hub-library" in table.stdout and "hub/*" in table.stdout
    updated = as_json(
        portside,
        "cache", "update", "-r", "default", "-n", "hub-library",
        "--allow-push", "--ttl", "0",
    )  # fmt: skip
    assert isinstance(updated, dict)
    assert updated["allowPush"] is True
    assert updated["ttlSeconds"] == 0
    cleared = as_json(
        portside, "cache", "update", "-r", "default", "-n", "hub-library", "--remove-cred-set"
    )
    assert isinstance(cleared, dict) and "credentialSet" not in cleared
    shown = as_json(portside, "cache", "show", "-r", "default", "-n", "hub-library")
    assert isinstance(shown, dict) and shown["targetRepository"] == "hub/*"
    deleted = portside("cache", "delete", "-r", "default", "-n", "hub-library", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert portside("cache", "show", "-r", "default", "-n", "hub-library").exit_code == 1


@pytest.mark.parametrize(
    ("source", "target", "needle"),
    [
        ("docker.io/library/*", "hub", "both end in `/*`"),
        ("library/ubuntu", "ubuntu", "HOST/path"),
        ("docker.io/*/ubuntu", "ubuntu", "may only end in `/*`"),
        ("docker.io/library/ubuntu", "Ubuntu", "not a repository name"),
        ("docker.io/library/*", "hub/*/x", "may only end in `/*`"),
    ],
)
def test_bad_patterns_answer_400(
    portside: CliHarness, source: str, target: str, needle: str
) -> None:
    client = portside.harness.client
    body = {"name": "rule1", "sourceRepository": source, "targetRepository": target}
    answer = client.post(
        f"{API}/registries/default/cacheRules", json=body, headers=portside.harness.admin
    )
    assert answer.status_code == 400, answer.text
    assert needle in answer.text


def test_a_taken_name_or_target_is_a_conflict(portside: CliHarness) -> None:
    client = portside.harness.client
    url = f"{API}/registries/default/cacheRules"
    body = {"name": "rule1", "sourceRepository": "ghcr.io/a/*", "targetRepository": "a/*"}
    assert client.post(url, json=body, headers=portside.harness.admin).status_code == 201
    again = client.post(url, json={**body, "name": "rule2"}, headers=portside.harness.admin)
    assert again.status_code == 409 and "a/*" in again.text
    same_name = {**body, "targetRepository": "b/*"}
    assert client.post(url, json=same_name, headers=portside.harness.admin).status_code == 409
    nested = {"name": "rule3", "sourceRepository": "ghcr.io/a/deep/*", "targetRepository": "a/x/*"}
    assert client.post(url, json=nested, headers=portside.harness.admin).status_code == 201
    missing = client.get(f"{url}/nothere", headers=portside.harness.admin)
    assert missing.status_code == 404
    assert (
        client.get(
            f"{API}/registries/nothere/cacheRules", headers=portside.harness.admin
        ).status_code
        == 404
    )
