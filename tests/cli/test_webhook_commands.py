"""`portside webhook ...` against the management API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from portside.config import LocationSettings, Settings
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a management app whose webhooks may target loopback."""
    allowed = settings.model_copy(update={"allow_private_network_targets": True})
    with management_harness(allowed) as harness:
        yield CliHarness(harness)


def as_json(portside: CliHarness, *args: str) -> object:
    """Run a command with `-o json` and decode its output."""
    result = portside(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_webhook_commands(portside: CliHarness) -> None:
    created = as_json(
        portside,
        "webhook", "create", "deploy01", "-r", "default",
        "--uri", "http://127.0.0.1:9/hook",
        "--actions", "push", "--actions", "delete",
        "--scope", "app:*",
        "--headers", "Authorization=Bearer s3cret",
    )  # fmt: skip
    assert isinstance(created, dict) and created["actions"] == ["push", "delete"]
    config = as_json(portside, "webhook", "get-config", "deploy01", "-r", "default")
    assert config == {
        "serviceUri": "http://127.0.0.1:9/hook",
        "customHeaders": {"Authorization": "*****"},
    }
    table = portside("webhook", "list", "-r", "default")
    assert table.exit_code == 0 and "deploy01" in table.stdout
    updated = as_json(
        portside, "webhook", "update", "deploy01", "-r", "default", "--status", "disabled"
    )
    assert isinstance(updated, dict) and updated["status"] == "disabled"

    ping = as_json(portside, "webhook", "ping", "deploy01", "-r", "default")
    assert isinstance(ping, dict)
    events = as_json(portside, "webhook", "list-events", "deploy01", "-r", "default")
    assert isinstance(events, list) and events[0]["id"] == ping["id"]
    again = as_json(
        portside, "webhook", "redeliver", "deploy01", "-r", "default", "--event", ping["id"]
    )
    assert isinstance(again, dict) and again["id"] == ping["id"]
    shown = portside("webhook", "list-events", "deploy01", "-r", "default")
    assert shown.exit_code == 0 and "ping" in shown.stdout

    deleted = portside("webhook", "delete", "deploy01", "-r", "default", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert portside("webhook", "show", "deploy01", "-r", "default").exit_code == 1


def test_a_webhook_takes_a_known_location(settings: Settings, tmp_path: Path) -> None:
    located = settings.model_copy(
        update={
            "allow_private_network_targets": True,
            "locations": {"eastus": LocationSettings(storage_path=tmp_path / "eastus")},
        }
    )
    with management_harness(located) as harness:
        portside = CliHarness(harness)
        create = ("webhook", "create", "-r", "default", "--uri", "http://127.0.0.1:9/")
        created = as_json(portside, *create, "east01", "--actions", "push", "--location", "eastus")
        assert isinstance(created, dict) and created["location"] == "eastus"
        refused = portside(*create, "mars01", "--actions", "push", "--location", "mars")
        assert refused.exit_code != 0 and "unknown location 'mars'" in refused.output
        cleared = as_json(
            portside, "webhook", "update", "east01", "-r", "default", "--location", ""
        )
        assert isinstance(cleared, dict) and "location" not in cleared


def test_a_webhook_is_named_as_az_names_it_or_by_argument(portside: CliHarness) -> None:
    created = as_json(
        portside,
        "webhook", "create", "-n", "deploy02", "-r", "default",
        "--uri", "http://127.0.0.1:9/hook", "--actions", "push",
    )  # fmt: skip
    assert isinstance(created, dict) and created["name"] == "deploy02"
    shown = as_json(portside, "webhook", "show", "--name", "deploy02", "-r", "default")
    assert isinstance(shown, dict) and shown["name"] == "deploy02"
    neither = portside("webhook", "show", "-r", "default")
    assert neither.exit_code == 2 and "NAME or -n/--name" in neither.output
    both = portside("webhook", "show", "deploy02", "-n", "deploy02", "-r", "default")
    assert both.exit_code == 2


def test_actions_are_given_as_az_gives_them(portside: CliHarness) -> None:
    created = as_json(
        portside,
        "webhook", "create", "deploy03", "-r", "default",
        "--uri", "http://127.0.0.1:9/hook", "--actions", "push", "delete", "chart_push",
        "--scope", "app:*",
    )  # fmt: skip
    assert isinstance(created, dict)
    assert created["actions"] == ["push", "delete", "chart_push"] and created["scope"] == "app:*"
    updated = as_json(
        portside, "webhook", "update", "deploy03", "-r", "default", "--actions", "delete", "push"
    )
    assert isinstance(updated, dict) and sorted(updated["actions"]) == ["delete", "push"]
    refused = portside("webhook", "update", "deploy03", "-r", "default", "--actions", "pull")
    assert refused.exit_code == 2 and "pull" in refused.output
