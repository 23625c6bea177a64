"""`portside audit list` against the management API: a table by default, JSON with -o json,
filters passed to the server, pages followed up to `--top`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from portside.config import Settings
from portside.metadata.audit import AuditEntry
from portside.metadata.clock import utcnow
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a management app whose audit log holds a few records."""
    with management_harness(settings) as harness:
        now = utcnow()
        for minutes, action, who in [
            (50, "login", "ci-token"),
            (40, "manifest.push", "ci-token"),
            (30, "manifest.delete", "default"),
            (5, "tag.update", "ci-token"),
        ]:
            harness.runtime.audit.record(
                AuditEntry(
                    at=now - timedelta(minutes=minutes),
                    registry="default",
                    registry_uid=None,
                    identity_kind="admin" if who == "default" else "token",
                    identity_id=who,
                    client="192.0.2.9",
                    action=action,
                    target="app:v1",
                    outcome="success",
                    status=200,
                    request_id="r",
                )
            )
        yield CliHarness(harness)


def listed(portside: CliHarness, *args: str) -> list[dict[str, object]]:
    """`audit list -r default ARGS -o json`, decoded."""
    result = portside("audit", "list", "-r", "default", *args, "-o", "json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert isinstance(found, list)
    return found


def test_audit_list(portside: CliHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    table = portside("audit", "list", "-r", "default")
    assert table.exit_code == 0, table.output
    assert "manifest.push" in table.stdout and "token:ci-token" in table.stdout
    assert "success (200)" in table.stdout

    everything = listed(portside)
    assert [r["action"] for r in everything] == [
        "tag.update",
        "manifest.delete",
        "manifest.push",
        "login",
    ]
    assert [r["action"] for r in listed(portside, "--since", "35m")] == [
        "tag.update",
        "manifest.delete",
    ]
    assert [r["action"] for r in listed(portside, "--identity", "admin:default")] == [
        "manifest.delete"
    ]
    assert [r["action"] for r in listed(portside, "--action", "manifest")] == [
        "manifest.delete",
        "manifest.push",
    ]
    assert len(listed(portside, "--top", "3")) == 3
    monkeypatch.setattr("portside.cli.remote.audit._PAGE", 3)  # pages are followed
    assert listed(portside) == everything
    assert len(listed(portside, "--top", "4")) == 4


def test_audit_list_errors(portside: CliHarness) -> None:
    bad = portside("audit", "list", "-r", "default", "--since", "someday")
    assert bad.exit_code == 1 and "neither a duration" in bad.output
    missing = portside("audit", "list", "-r", "nowhere")
    assert missing.exit_code == 1
