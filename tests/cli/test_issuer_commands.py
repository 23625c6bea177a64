"""`portside issuer create|list|show|update|delete` against the management API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from portside.config import Settings, TrustedIssuerSettings
from tests.api.identities import OidcIssuer
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness

CONFIGURED = "https://configured.example/v2.0"


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a management app whose configuration trusts CONFIGURED."""
    trusted = (
        TrustedIssuerSettings(issuer=CONFIGURED, audience="api://portside", jwks_url="https://k"),
    )
    with management_harness(settings.model_copy(update={"trusted_issuers": trusted})) as harness:
        yield CliHarness(harness)


def as_json(portside: CliHarness, *args: str) -> object:
    """Run a command with `-o json` and decode its output."""
    result = portside(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_issuer_round_trip(portside: CliHarness, tmp_path: Path) -> None:
    idp = OidcIssuer()
    keys = idp.write_jwks(tmp_path / "keys.json")
    created = as_json(
        portside,
        "issuer",
        "create",
        "idp",
        "--issuer",
        idp.issuer,
        "--audience",
        idp.audience,
        "--jwks-file",
        str(keys),
        "--tenant",
        "t1",
    )
    assert isinstance(created, dict)
    assert created["source"] == "api" and created["tenant"] == "t1"
    assert created["jwks"] == json.loads(keys.read_text())

    table = portside("issuer", "list")
    assert table.exit_code == 0, table.output
    assert "config-1" in table.stdout and "config" in table.stdout and "idp" in table.stdout
    listed = as_json(portside, "issuer", "list")
    assert isinstance(listed, list)
    assert [(i["name"], i["source"]) for i in listed] == [("config-1", "config"), ("idp", "api")]

    shown = portside("issuer", "show", "idp")
    assert shown.exit_code == 0 and idp.issuer in shown.stdout

    updated = as_json(
        portside,
        "issuer",
        "update",
        "idp",
        "--jwks-url",
        "https://idp.example/keys",
        "--no-tenant",
        "--groups-claim",
        "roles",
    )
    assert isinstance(updated, dict)
    assert updated["jwksUrl"] == "https://idp.example/keys" and "jwks" not in updated
    assert "tenant" not in updated and updated["groupsClaim"] == "roles"

    refused = portside("issuer", "delete", "config-1", "--yes")
    assert refused.exit_code == 1 and "configuration file" in refused.output
    deleted = portside("issuer", "delete", "idp", "--yes")
    assert deleted.exit_code == 0, deleted.output
    missing = portside("issuer", "show", "idp")
    assert missing.exit_code == 1


def test_issuer_create_needs_keys(portside: CliHarness, tmp_path: Path) -> None:
    base = ("issuer", "create", "idp", "--issuer", "https://i", "--audience", "a")
    assert portside(*base).exit_code == 2
    both = portside(*base, "--jwks-url", "https://k", "--jwks-file", str(tmp_path / "nope"))
    assert both.exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    assert portside(*base, "--jwks-file", str(bad)).exit_code == 1


def test_issuer_commands_are_for_the_administrator(portside: CliHarness) -> None:
    principal, secret = portside.harness.create_principal()
    env = {"PORTSIDE_ADMIN_PASSWORD": None, "PORTSIDE_USERNAME": principal}
    result = portside("issuer", "list", env=env | {"PORTSIDE_PASSWORD": secret})
    assert result.exit_code == 1


def test_issuer_portal_client(portside: CliHarness, tmp_path: Path) -> None:
    idp = OidcIssuer()
    keys = str(idp.write_jwks(tmp_path / "keys.json"))
    create = ("issuer", "create", "idp", "--issuer", idp.issuer, "--audience", idp.audience)
    created = as_json(
        portside,
        *create,
        "--jwks-file",
        keys,
        "--portal-client-id",
        "portal",
        "--portal-client-secret",
        "cli-secret-1",
    )
    assert isinstance(created, dict)
    assert created["portalClientId"] == "portal" and created["portalClientSecretSet"] is True
    shown = portside("issuer", "show", "idp")
    assert "portal" in shown.stdout and "cli-secret-1" not in shown.stdout
    both = portside("issuer", "update", "idp", "--no-portal", "--portal-client-id", "x")
    assert both.exit_code == 2
    cleared = as_json(portside, "issuer", "update", "idp", "--no-portal")
    assert isinstance(cleared, dict)
    assert "portalClientId" not in cleared and cleared["portalClientSecretSet"] is False
