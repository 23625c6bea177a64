"""`portside replication ...` against the management API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from portside.config import LocationSettings, Settings
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a node in westeurope that knows eastus's storage."""
    located = settings.model_copy(
        update={
            "location": "westeurope",
            "locations": {"eastus": LocationSettings(storage_path=settings.data_dir / "eastus")},
        }
    )
    with management_harness(located) as harness:
        yield CliHarness(harness)


def as_json(portside: CliHarness, *args: str) -> object:
    """Run a command with `-o json` and decode its output."""
    result = portside(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_replication_commands(portside: CliHarness) -> None:
    created = as_json(portside, "replication", "create", "-r", "default", "-l", "eastus")
    assert created == {
        "location": "eastus",
        "regionEndpointEnabled": True,
        "provisioningState": "Succeeded",
        "createdAt": created["createdAt"],  # type: ignore[index]
    }
    as_json(portside, "replication", "create", "-r", "default", "-l", "westeurope")
    table = portside("replication", "list", "-r", "default")
    assert table.exit_code == 0 and "eastus" in table.stdout and "westeurope" in table.stdout
    updated = as_json(
        portside,
        "replication", "update", "-r", "default", "-l", "eastus",
        "--region-endpoint-enabled", "false",
    )  # fmt: skip
    assert isinstance(updated, dict) and updated["regionEndpointEnabled"] is False
    shown = as_json(portside, "replication", "show", "-r", "default", "-l", "eastus")
    assert isinstance(shown, dict) and shown["regionEndpointEnabled"] is False

    backlog = portside("replication", "status", "-r", "default")
    assert backlog.exit_code == 0, backlog.output
    assert "eastus" in backlog.stdout and "off" in backlog.stdout  # routing of eastus

    deleted = portside("replication", "delete", "-r", "default", "-l", "eastus", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert [r["location"] for r in as_json(portside, "replication", "list", "-r", "default")] == [  # type: ignore[attr-defined]
        "westeurope"
    ]


def test_replication_errors_are_readable(portside: CliHarness) -> None:
    unknown = portside("replication", "create", "-r", "default", "-l", "mars")
    assert unknown.exit_code == 1 and "unknown location 'mars'" in unknown.output
    missing = portside("replication", "show", "-r", "default", "-l", "eastus")
    assert missing.exit_code == 1 and "not replicated" in missing.output
    image = portside("replication", "status", "-r", "default", "--image", "app:v1")
    assert image.exit_code == 1 and "not found" in image.output
    nothing = portside("replication", "status", "-r", "nosuch")
    assert nothing.exit_code == 1 and "not found" in nothing.output
