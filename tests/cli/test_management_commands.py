"""`portside registry|credential|token|scope-map|sp|role` against the management API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from portside.config import Settings, TrustedIssuerSettings
from tests.cli.harness import CliHarness
from tests.management_harness import management_harness

# Two trusted issuers: role assignments of subjects and groups must say whose they are.
ISSUERS = ("https://idp.example/v2.0", "https://other.example/v2.0")


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a fresh management app trusting ISSUERS."""
    trusted = tuple(
        TrustedIssuerSettings(issuer=i, audience="api://portside", jwks_url=f"{i}/keys")
        for i in ISSUERS
    )
    with management_harness(settings.model_copy(update={"trusted_issuers": trusted})) as harness:
        yield CliHarness(harness)


def as_json(portside: CliHarness, *args: str) -> object:
    """Run a command with `-o json` and decode its output."""
    result = portside(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_registry_commands(portside: CliHarness) -> None:
    created = as_json(portside, "registry", "create", "team1", "--sku", "Premium")
    assert isinstance(created, dict)
    assert created["loginServer"] == "127.0.0.1:5001"
    assert created["sku"] == "Premium"
    listed = as_json(portside, "registry", "list")
    assert isinstance(listed, list)
    assert [r["name"] for r in listed] == ["default", "team1"]

    table = portside("registry", "list")
    assert table.exit_code == 0
    assert "127.0.0.1:5001" in table.stdout
    assert "Login server" in table.stdout

    shown = portside("registry", "show", "team1")
    assert "Premium" in shown.stdout

    updated = portside(
        "registry", "update", "team1", "--admin-enabled", "true", "--anonymous-pull-enabled", "true"
    )
    assert updated.exit_code == 0, updated.output
    assert "password2" in updated.stdout
    assert "not shown again" in updated.stderr
    nothing = portside("registry", "update", "team1")
    assert nothing.exit_code == 1
    assert "nothing to update" in nothing.stderr

    refused = portside("registry", "delete", "team1", input="n\n")
    assert refused.exit_code == 1
    assert portside("registry", "show", "team1").exit_code == 0
    assert portside("registry", "delete", "team1", "--yes").exit_code == 0
    gone = portside("registry", "show", "team1")
    assert gone.exit_code == 1
    assert "Error: registry 'team1' does not exist" in gone.stderr
    assert "Traceback" not in gone.output


def test_credential_commands(portside: CliHarness) -> None:
    portside("registry", "create", "team1", "--admin-enabled", "true")
    shown = as_json(portside, "credential", "show", "-r", "team1")
    assert isinstance(shown, dict)
    assert shown["username"] == "team1"
    assert all("value" not in p for p in shown["passwords"])
    renewed = as_json(
        portside, "credential", "renew", "-r", "team1", "--password-name", "password2"
    )
    assert isinstance(renewed, dict)
    values = {p["name"]: p.get("value") for p in renewed["passwords"]}
    assert values["password"] is None and values["password2"]
    table = portside("credential", "renew", "-r", "team1", "--password-name", "password")
    assert "not shown again" in table.stderr


def test_token_and_scope_map_commands(portside: CliHarness) -> None:
    created = as_json(
        portside,
        "scope-map",
        "create",
        "readers",
        "-r",
        "default",
        "--repository",
        "hello-world",
        "content/write",
        "content/read",
        "--repository",
        "team/*",
        "content/read",
        "--description",
        "CI",
    )
    assert isinstance(created, dict)
    assert created["actions"] == [
        "repositories/hello-world/content/write",
        "repositories/hello-world/content/read",
        "repositories/team/*/content/read",
    ]
    updated = as_json(
        portside,
        "scope-map",
        "update",
        "readers",
        "-r",
        "default",
        "--add-repository",
        "other",
        "metadata/read",
        "--remove-repository",
        "hello-world",
        "content/write",
    )
    assert isinstance(updated, dict)
    assert updated["actions"] == [
        "repositories/hello-world/content/read",
        "repositories/team/*/content/read",
        "repositories/other/metadata/read",
    ]
    maps = portside("scope-map", "list", "-r", "default")
    assert "_repositories_admin" in maps.stdout and "readers" in maps.stdout

    token = as_json(
        portside, "token", "create", "ci-token", "-r", "default", "--scope-map", "readers"
    )
    assert isinstance(token, dict)
    assert [p["name"] for p in token["credentials"]["passwords"]] == ["password1", "password2"]
    shortcut = as_json(
        portside,
        "token",
        "create",
        "hello-token",
        "-r",
        "default",
        "--repository",
        "hello-world",
        "content/read",
        "--expiration-in-days",
        "7",
    )
    assert isinstance(shortcut, dict)
    assert shortcut["scopeMap"] == "hello-token-scope-map"
    listed = portside("token", "list", "-r", "default")
    assert "ci-token" in listed.stdout and "hello-token" in listed.stdout

    disabled = as_json(
        portside, "token", "update", "ci-token", "-r", "default", "--status", "disabled"
    )
    assert isinstance(disabled, dict) and disabled["status"] == "disabled"
    generated = as_json(
        portside, "token", "credential", "generate", "ci-token", "-r", "default", "--password1"
    )
    assert isinstance(generated, list)
    assert generated[0]["name"] == "password1" and generated[0]["value"]
    shown = portside("token", "show", "ci-token", "-r", "default")
    assert "disabled" in shown.stdout

    in_use = portside("scope-map", "delete", "readers", "-r", "default", "--yes")
    assert in_use.exit_code == 1
    assert "used by 1 token" in in_use.stderr
    assert portside("token", "delete", "ci-token", "-r", "default", "--yes").exit_code == 0
    assert portside("scope-map", "delete", "readers", "-r", "default", "--yes").exit_code == 0

    no_actions = portside("token", "create", "tok-x1", "-r", "default", "--repository", "app")
    assert no_actions.exit_code == 2
    assert "give a repository and its actions" in no_actions.output


def test_service_principal_and_role_commands(portside: CliHarness) -> None:
    portside("registry", "create", "team1")
    principal = as_json(portside, "sp", "create", "ci")
    assert isinstance(principal, dict)
    principal_id, secret = principal["id"], principal["secrets"][0]["value"]
    assert principal_id in portside("sp", "list").stdout

    assignment = as_json(
        portside,
        "role",
        "assignment",
        "create",
        "-r",
        "team1",
        "--role",
        "Contributor",
        "--assignee",
        principal_id,
    )
    assert isinstance(assignment, dict)
    listed = as_json(portside, "role", "assignment", "list")
    assert isinstance(listed, list) and [a["id"] for a in listed] == [assignment["id"]]
    group = portside(
        "role",
        "assignment",
        "create",
        "-r",
        "team1",
        "--role",
        "AcrPull",
        "--assignee",
        "devs",
        "--assignee-type",
        "group",
        "--repositories",
        "team/*",
    )
    # Which of the two issuers' `devs` is meant cannot be guessed.
    assert group.exit_code == 1 and "issuer" in group.stderr
    group = portside(
        "role",
        "assignment",
        "create",
        "-r",
        "team1",
        "--role",
        "AcrPull",
        "--assignee",
        "devs",
        "--assignee-type",
        "group",
        "--issuer",
        ISSUERS[1],
        "--repositories",
        "team/*",
    )
    assert group.exit_code == 0, group.output
    assert "team/*" in group.stdout and ISSUERS[1] in group.stdout

    # The service principal signs in with its id and secret and manages team1 only.
    as_sp = {"PORTSIDE_USERNAME": principal_id, "PORTSIDE_PASSWORD": secret}
    mine = portside("registry", "list", "-o", "json", env=as_sp)
    assert [r["name"] for r in json.loads(mine.stdout)] == ["team1"]
    denied = portside("sp", "list", env=as_sp)
    assert denied.exit_code == 1
    assert "only the deployment administrator" in denied.stderr

    reset = as_json(portside, "sp", "credential", "reset", principal_id)
    assert isinstance(reset, dict) and reset["name"] == "secret1"
    old = portside("registry", "list", env=as_sp)
    assert old.exit_code == 1
    assert "invalid user name or password" in old.stderr

    path_id = str(assignment["id"])
    assert portside("role", "assignment", "delete", path_id, "-r", "team1").exit_code == 0
    assert portside("sp", "delete", principal_id, "--yes").exit_code == 0
    assert as_json(portside, "sp", "list") == []


def test_signing_key_rotation(portside: CliHarness) -> None:
    rotated = as_json(portside, "signing-key", "rotate", "--algorithm", "RS256")
    assert isinstance(rotated, dict) and rotated["kid"]


def test_signing_key_retirement(portside: CliHarness) -> None:
    first = as_json(portside, "signing-key", "rotate")
    assert isinstance(first, dict)
    refused = portside("signing-key", "retire", "--kid", first["kid"])
    assert refused.exit_code == 1 and "rotate first" in refused.stderr
    as_json(portside, "signing-key", "rotate")
    retired = portside("signing-key", "retire", "--kid", first["kid"])
    assert retired.exit_code == 0, retired.stderr
    assert f"Retired signing key {first['kid']}" in retired.stderr
    unknown = portside("signing-key", "retire", "--kid", first["kid"])
    assert unknown.exit_code == 1


def test_credentials_are_required_and_bad_ones_reported(portside: CliHarness) -> None:
    missing = portside("registry", "list", env={"PORTSIDE_ADMIN_PASSWORD": None})
    assert missing.exit_code == 1
    assert "no credentials" in missing.stderr
    wrong = portside("registry", "list", "--admin-password", "wrong")
    assert wrong.exit_code == 1
    assert "Error: invalid user name or password" in wrong.stderr
    half = portside("registry", "list", "--username", "someone")
    assert half.exit_code == 1
    assert "--password" in half.stderr


def test_generated_secrets_print_as_plain_lines_in_table_mode(portside: CliHarness) -> None:
    principal = as_json(portside, "sp", "create", "ci")
    assert isinstance(principal, dict)
    reset = portside("sp", "credential", "reset", principal["id"], "--append")
    assert reset.exit_code == 0, reset.output
    (line,) = [line for line in reset.stdout.splitlines() if line.startswith("secret2: ")]
    assert len(line.removeprefix("secret2: ")) == 43
    assert "not shown again" in reset.stderr

    portside("token", "create", "ci-token", "-r", "default", "--scope-map", "_repositories_pull")
    generated = portside(
        "token", "credential", "generate", "ci-token", "-r", "default", "--password1", "--password2"
    )
    assert generated.exit_code == 0, generated.output
    lines = generated.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["password1", "password2"]
    assert all(len(line.split(": ")[1]) == 43 for line in lines)


def test_repository_anonymous_pull(portside: CliHarness) -> None:
    harness = portside.harness
    harness.add_repository("default", "team/app")
    harness.add_repository("default", "team/private")

    def public() -> set[str]:
        async def read() -> set[str]:
            record = await harness.service.registries.show("default")
            stores = harness.runtime.stores.registries
            return await stores.all_anonymous_repositories(record.record.id)

        return harness.run(read)

    app = ("repository", "update", "-n", "default", "--repository", "team/app")
    opened = as_json(portside, *app, "--anonymous-pull-enabled", "true")
    assert opened == {"registry": "default", "name": "team/app", "anonymousPullEnabled": True}
    assert public() == {"team/app"}
    table = portside(*app, "--anonymous-pull-enabled", "false")
    assert table.exit_code == 0, table.output
    assert "Anonymous pull enabled" in table.stdout and "team/app" in table.stdout
    assert public() == set()

    on_image = portside(
        "repository", "update", "-n", "default", "--image", "team/app:v1",
        "--anonymous-pull-enabled", "true",
    )  # fmt: skip
    assert on_image.exit_code == 1
    assert "give --repository" in on_image.stderr
    missing = portside(
        "repository", "update", "-n", "default", "--repository", "nope",
        "--anonymous-pull-enabled", "true",
    )  # fmt: skip
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    nothing = portside(*app)
    assert nothing.exit_code == 1 and "nothing to update" in nothing.stderr
    assert public() == set()
