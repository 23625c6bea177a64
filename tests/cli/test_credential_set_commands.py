"""`portside credential-set ...` against the management API: the password is sealed in the
database (never stored or shown in clear), masked by every answer, and opens for the services
that log in to the upstream."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import anyio
import pytest

from portside.config import Settings
from portside.services.imports.sealing import SealBroken
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness

SECRET = "pa55-upstream-S3CRET"


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


def database_bytes(settings: Settings) -> bytes:
    """Every row of the SQLite database, as one byte string to search."""
    path = settings.resolved_database_url().removeprefix("sqlite+aiosqlite:///")
    found = bytearray()
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    found += value if isinstance(value, bytes) else str(value).encode()
    return bytes(found)


def test_credential_set_lifecycle_and_secrecy(portside: CliHarness, settings: Settings) -> None:
    created = as_json(
        portside,
        "credential-set", "create", "-r", "default", "-n", "upstream-1",
        "--login-server", "Registry.Example:5000", "--username", "puller", "--password", SECRET,
    )  # fmt: skip
    assert isinstance(created, dict)
    assert created["loginServer"] == "registry.example:5000"
    assert created["password"] == "*****"
    shown = portside("credential-set", "show", "-r", "default", "-n", "upstream-1")
    assert shown.exit_code == 0 and "*****" in shown.stdout and SECRET not in shown.stdout
    listed = as_json(portside, "credential-set", "list", "-r", "default")
    assert isinstance(listed, list) and [c["name"] for c in listed] == ["upstream-1"]
    assert SECRET not in json.dumps(listed)
    assert SECRET.encode() not in database_bytes(settings)

    service = portside.harness.runtime.credential_sets
    opened = anyio.run(service.credentials, "default", "upstream-1")
    assert opened.credentials.username == "puller"
    assert opened.credentials.password == SECRET
    assert SECRET not in repr(opened)

    updated = as_json(
        portside, "credential-set", "update", "-r", "default", "-n", "upstream-1",
        "--password", "n3w-secret",
    )  # fmt: skip
    assert isinstance(updated, dict) and updated["password"] == "*****"
    opened = anyio.run(service.credentials, "default", "upstream-1")
    assert opened.credentials.password == "n3w-secret"
    assert b"n3w-secret" not in database_bytes(settings)

    taken = portside(
        "credential-set", "create", "-r", "default", "-n", "upstream-1",
        "--login-server", "x.example", "-u", "a", "-p", "b",
    )  # fmt: skip
    assert taken.exit_code != 0 and "already exists" in taken.output
    bad = portside(
        "credential-set", "create", "-r", "default", "-n", "upstream-2",
        "--login-server", "https://x.example/path", "-u", "a", "-p", "b",
    )  # fmt: skip
    assert bad.exit_code != 0 and "host[:port]" in bad.output

    deleted = portside("credential-set", "delete", "-r", "default", "-n", "upstream-1", "--yes")
    assert deleted.exit_code == 0, deleted.output
    missing = portside("credential-set", "show", "-r", "default", "-n", "upstream-1")
    assert missing.exit_code != 0 and "does not exist" in missing.output


def test_a_sealed_password_moved_to_another_row_does_not_open(
    portside: CliHarness, settings: Settings
) -> None:
    for name in ("first-set", "second-set"):
        result = portside(
            "credential-set", "create", "-r", "default", "-n", name,
            "--login-server", "x.example", "-u", "u", "-p", f"secret-of-{name}",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    path = settings.resolved_database_url().removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE credential_sets SET password_sealed ="
            " (SELECT password_sealed FROM credential_sets WHERE name = 'first-set')"
            " WHERE name = 'second-set'"
        )
    service = portside.harness.runtime.credential_sets
    with pytest.raises(SealBroken):
        anyio.run(service.credentials, "default", "second-set")


def test_a_configured_key_seals_new_passwords(settings: Settings) -> None:
    keyed = settings.model_copy(
        update={"secrets_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
    )
    with management_harness(keyed) as harness:
        service = harness.runtime.credential_sets
        portside = CliHarness(harness)
        result = portside(
            "credential-set", "create", "-r", "default", "-n", "keyed-set",
            "--login-server", "x.example", "-u", "u", "-p", SECRET,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert anyio.run(service.credentials, "default", "keyed-set").credentials.password == SECRET
    path = keyed.resolved_database_url().removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM deployment_keys").fetchone() == (0,)
        (kid,) = conn.execute("SELECT key_id FROM credential_sets").fetchone()
    assert kid.startswith("config-")


def test_service_principal_flags_are_renamed_on_upstream_commands(portside: CliHarness) -> None:
    shown = portside("credential-set", "create", "--help")
    assert shown.exit_code == 0
    assert "--sp-username" in shown.stdout and "--sp-password" in shown.stdout
    assert "--username" in shown.stdout.replace("--sp-username", "")
    # A service principal that does not exist is refused as such: the flag reaches the API.
    refused = portside(
        "credential-set", "list", "-r", "default",
        "--username", "00000000-0000-0000-0000-000000000000", "--password", "nope",
    )  # fmt: skip
    assert refused.exit_code != 0
