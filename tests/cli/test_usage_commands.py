"""`portside registry show-usage` and `registry update --quota-*`, and size arguments."""

from __future__ import annotations

import json
from collections.abc import Iterator

import click
import pytest

from portside.cli.remote.arguments import RESET, QuotaValue, parse_size
from portside.config import Settings
from portside.metadata.usage import GIB
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a fresh management app with registry `team1`."""
    with management_harness(settings) as harness:
        cli = CliHarness(harness)
        assert cli("registry", "create", "team1").exit_code == 0
        harness.add_repository("team1", "hello")
        yield cli


def test_show_usage_prints_a_table_of_every_quota(portside: CliHarness) -> None:
    result = portside("registry", "show-usage", "-n", "team1")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "│" in line or "┃" in line]
    rows = [
        [cell.strip() for cell in line.strip("│┃ ").split("│" if "│" in line else "┃")]
        for line in lines
    ]
    assert rows[0] == ["Name", "Current", "Limit", "Unit"]
    assert rows[1:] == [
        ["Size", "1", str(100 * GIB), "Bytes"],
        ["Repositories", "1", "unlimited", "Count"],
        ["Tokens", "0", "500", "Count"],
        ["ScopeMaps", "0", "500", "Count"],
        ["Webhooks", "0", "10", "Count"],
    ]
    # The registry may be given as NAME too.
    assert portside("registry", "show-usage", "team1").stdout == result.stdout
    missing = portside("registry", "show-usage")
    assert missing.exit_code == 1 and "show-usage -n NAME" in missing.stderr
    unknown = portside("registry", "show-usage", "-n", "nothere")
    assert unknown.exit_code == 1 and "does not exist" in unknown.stderr


def test_show_usage_json_is_the_apis_answer(portside: CliHarness) -> None:
    result = portside("registry", "show-usage", "-n", "team1", "-o", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["storage"] == {"used": 1, "limit": 100 * GIB}
    assert body["repositories"] == {"used": 1, "limit": None}
    assert [item["name"] for item in body["value"]] == [
        "Size",
        "Repositories",
        "Tokens",
        "ScopeMaps",
        "Webhooks",
    ]


def test_update_sets_and_resets_quotas(portside: CliHarness) -> None:
    result = portside(
        "registry",
        "update",
        "team1",
        "--quota-storage",
        "1.5GiB",
        "--quota-repositories",
        "20",
        "--quota-scope-maps",
        "5",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["quotaStorageBytes"] == 3 * GIB // 2
    assert (body["quotaRepositories"], body["quotaScopeMaps"]) == (20, 5)
    table = portside("registry", "show", "team1").stdout
    assert "Quota: storage (bytes)" in table and str(3 * GIB // 2) in table
    assert "Quota: tokens" not in table  # not overridden
    usage = json.loads(portside("registry", "show-usage", "-n", "team1", "-o", "json").stdout)
    assert usage["storage"]["limit"] == 3 * GIB // 2

    reset = portside("registry", "update", "team1", "--quota-storage", "default", "-o", "json")
    assert reset.exit_code == 0, reset.output
    body = json.loads(reset.stdout)
    assert "quotaStorageBytes" not in body and body["quotaRepositories"] == 20

    bad = portside("registry", "update", "team1", "--quota-storage", "10GB")
    assert bad.exit_code == 2
    assert "unknown unit 'GB'" in bad.stderr and "GiB" in bad.stderr
    bad = portside("registry", "update", "team1", "--quota-tokens", "1k")
    assert bad.exit_code == 2 and "not a count" in bad.stderr


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1048576", 1 << 20),
        ("512B", 512),
        ("1KiB", 1024),
        ("10 MiB", 10 << 20),
        ("10GiB", 10 * GIB),
        ("10gib", 10 * GIB),
        ("0.5TiB", 1 << 39),
        ("2TiB", 2 << 40),
    ],
)
def test_sizes_take_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "-1", "1.5", "0.3KiB", "10GB", "10 Gigs", "1e9"])
def test_sizes_refuse_what_is_not_a_whole_number_of_bytes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_quota_values_take_default_to_reset() -> None:
    assert QuotaValue(sizes=True).convert("Default", None, None) == RESET
    assert QuotaValue().convert("7", None, None) == 7
    with pytest.raises(click.BadParameter):
        QuotaValue().convert("7GiB", None, None)
