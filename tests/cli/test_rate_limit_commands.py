"""`portside registry update --read-ops-per-minute/--write-ops-per-minute` and what `registry
show` prints of the limits."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from portside.config import Settings
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a fresh management app with registry `team1` (Basic)."""
    with management_harness(settings) as harness:
        cli = CliHarness(harness)
        assert cli("registry", "create", "team1", "--sku", "Basic").exit_code == 0
        yield cli


def _shown(portside: CliHarness) -> dict[str, str]:
    result = portside("registry", "show", "team1")
    assert result.exit_code == 0, result.output
    rows = [line.strip("│ ").split("│") for line in result.stdout.splitlines() if "│" in line]
    return {label.strip(): value.strip() for label, value in rows}


def test_show_prints_the_limits_in_force(portside: CliHarness) -> None:
    shown = _shown(portside)
    assert shown["Reads per minute"] == "1000"
    assert shown["Writes per minute"] == "100"


def test_update_sets_resets_and_lifts_limits(portside: CliHarness) -> None:
    result = portside(
        "registry", "update", "team1", "--read-ops-per-minute", "0", "--write-ops-per-minute", "7"
    )
    assert result.exit_code == 0, result.output
    shown = _shown(portside)
    assert shown["Reads per minute"] == "unlimited"
    assert shown["Writes per minute"] == "7"
    result = portside(
        "registry", "update", "team1", "--write-ops-per-minute", "default", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["writeOpsPerMinuteLimit"] == 100
    assert body["readOpsPerMinute"] == 0
    assert "readOpsPerMinuteLimit" not in body, "JSON leaves an unlimited limit out"


def test_update_refuses_a_bad_rate(portside: CliHarness) -> None:
    result = portside("registry", "update", "team1", "--read-ops-per-minute", "lots")
    assert result.exit_code == 2
    assert "not a count" in result.output
    result = portside("registry", "update", "team1", "--read-ops-per-minute", "-3")
    assert result.exit_code != 0
