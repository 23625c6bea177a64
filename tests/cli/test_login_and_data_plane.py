"""`portside login` (Docker's config.json), the data-plane commands' token flow, and
`portside admin reset-password`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

from portside.auth.secrets import SecretHasher
from portside.config import Settings
from portside.metadata.credentials import CredentialStore
from portside.metadata.database import Database
from portside.services.management.admin import DeploymentAdmin
from tests.cli.harness import CliHarness, invoke
from tests.management_harness import management_harness

NULL_GUID = "00000000-0000-0000-0000-000000000000"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def portside(settings: Settings) -> Iterator[CliHarness]:
    """`portside ...` against a fresh management app."""
    with management_harness(settings) as harness:
        yield CliHarness(harness)


def test_login_writes_dockers_config_and_keeps_other_entries(
    portside: CliHarness, tmp_path: Path
) -> None:
    portside("registry", "create", "team1")
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(
        json.dumps({"auths": {"ghcr.io": {"auth": "eA=="}}, "detachKeys": "ctrl-x"})
    )
    result = portside("login", "-n", "team1", env={"DOCKER_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    assert "Login Succeeded: 127.0.0.1:5001 " in result.stdout
    assert "docker push 127.0.0.1:5001/REPOSITORY:TAG" in result.stderr
    written = json.loads((config / "config.json").read_text())
    assert written["detachKeys"] == "ctrl-x"
    assert written["auths"]["ghcr.io"] == {"auth": "eA=="}
    entry = written["auths"]["127.0.0.1:5001"]
    user, _, token = base64.b64decode(entry["auth"]).decode().partition(":")
    assert user == NULL_GUID
    claims = portside.harness.run(lambda: portside.harness.keys.verify(token, kind="refresh_token"))
    assert claims["aud"] == "127.0.0.1:5001"
    assert (config / "config.json").stat().st_mode & 0o777 == 0o600


def test_login_creates_the_config_when_missing(portside: CliHarness, tmp_path: Path) -> None:
    config = tmp_path / "fresh"
    result = portside("login", "-n", "default", "--docker-config", str(config))
    assert result.exit_code == 0, result.output
    written = json.loads((config / "config.json").read_text())
    assert list(written["auths"]) == ["127.0.0.1:5000"]


def test_login_expose_token_prints_and_writes_nothing(portside: CliHarness, tmp_path: Path) -> None:
    config = tmp_path / "docker"
    result = portside("login", "-n", "default", "--expose-token", "--docker-config", str(config))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["loginServer"] == "127.0.0.1:5000"
    assert printed["accessToken"].count(".") == 2
    assert not config.exists()


def test_login_warns_about_a_credential_store(portside: CliHarness, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"credsStore": "desktop"}))
    result = portside("login", "-n", "default", "--docker-config", str(tmp_path))
    assert result.exit_code == 0
    assert "credential store" in result.stderr


def test_login_refuses_a_corrupt_config(portside: CliHarness, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{oops")
    result = portside("login", "-n", "default", "--docker-config", str(tmp_path))
    assert result.exit_code == 1
    assert "cannot read" in result.stderr
    assert (tmp_path / "config.json").read_text() == "{oops"


class FakeRegistry:
    """A server faking the login endpoint, the token endpoint and a few data-plane routes."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if path == "/api/v1/registries/team1/login":
            body = {"loginServer": "127.0.0.1:5001", "refreshToken": "refresh-1"}
            return httpx.Response(200, json=body)
        if path == "/api/v1/registries/team1/repositories/team/app":
            assert request.method == "PATCH"
            enabled = json.loads(request.content)["anonymousPullEnabled"]
            body = {"registry": "team1", "name": "team/app", "anonymousPullEnabled": enabled}
            return httpx.Response(200, json=body)
        assert request.headers["host"] == "127.0.0.1:5001"
        if path == "/oauth2/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            assert form["grant_type"] == "refresh_token"
            assert form["service"] == "127.0.0.1:5001"
            assert form["refresh_token"] == "refresh-1"
            return httpx.Response(200, json={"access_token": f"access {form['scope']}"})
        scope = request.headers["authorization"].removeprefix("Bearer access ")
        if path == "/acr/v1/_catalog":
            assert scope == "registry:catalog:*"
            if request.url.params.get("last") == "b":
                return httpx.Response(200, json={"repositories": ["c"]})
            link = '</acr/v1/_catalog?last=b&n=2>; rel="next"'
            return httpx.Response(200, json={"repositories": ["a", "b"]}, headers={"Link": link})
        if path == "/acr/v1/team/app/_tags/v1":
            assert scope == "repository:team/app:metadata_read"
            return httpx.Response(200, json={"tag": {"name": "v1", "digest": DIGEST}})
        if path == f"/v2/team/app/manifests/{DIGEST}" and request.method == "DELETE":
            assert scope == "repository:team/app:delete"
            return httpx.Response(202)
        if path == f"/acr/v1/team/app/_manifests/{DIGEST}" and request.method == "PATCH":
            assert scope == "repository:team/app:metadata_write"
            assert json.loads(request.content) == {"deleteEnabled": False}
            attributes = {"deleteEnabled": False, "writeEnabled": True}
            return httpx.Response(
                200, json={"manifest": {"digest": DIGEST, "changeableAttributes": attributes}}
            )
        if path == "/acr/v1/team/app" and request.method == "PATCH":
            assert scope == "repository:team/app:metadata_write"
            assert json.loads(request.content) == {"listEnabled": False}
            attributes = {"deleteEnabled": True, "listEnabled": False}
            return httpx.Response(
                200, json={"imageName": "team/app", "changeableAttributes": attributes}
            )
        if path == f"/v2/team/app/referrers/{DIGEST}":
            assert scope == "repository:team/app:pull"
            manifests = [{"digest": "sha256:" + "cd" * 32, "artifactType": "application/sbom"}]
            return httpx.Response(200, json={"schemaVersion": 2, "manifests": manifests})
        if path == "/acr/v1/team/app/_tags/nope":
            body = {"errors": [{"code": "TAG_UNKNOWN", "message": "the tag does not exist"}]}
            return httpx.Response(404, json=body)
        raise AssertionError(f"unexpected {request.method} {request.url}")


def run(fake: FakeRegistry, *args: str) -> tuple[int, str, str]:
    """Run a data-plane command against the fake registry."""
    result = invoke(httpx.MockTransport(fake), *args, env={"PORTSIDE_ADMIN_PASSWORD": "x"})
    return result.exit_code, result.stdout, result.stderr


def test_repository_list_follows_pages_with_a_catalog_token() -> None:
    fake = FakeRegistry()
    code, out, _ = run(fake, "repository", "list", "-n", "team1", "-o", "json")
    assert code == 0
    assert json.loads(out) == ["a", "b", "c"]
    token_requests = [r for r in fake.seen if r.url.path == "/oauth2/token"]
    assert len(token_requests) == 1  # cached for the second page


def test_manifest_commands_resolve_tags_and_use_narrow_scopes() -> None:
    fake = FakeRegistry()
    code, out, err = run(fake, "manifest", "delete", "-r", "team1", "-n", "team/app:v1", "--yes")
    assert (code, err) == (0, "")
    code, out, _ = run(
        fake,
        "manifest",
        "update-metadata",
        "-r",
        "team1",
        "-n",
        f"team/app@{DIGEST}",
        "--delete-enabled",
        "false",
        "-o",
        "json",
    )
    assert code == 0
    assert json.loads(out)["changeableAttributes"]["deleteEnabled"] is False
    code, out, _ = run(fake, "manifest", "list-referrers", "-r", "team1", "-n", "team/app:v1")
    assert code == 0
    assert "application/sbom" in out


def test_repository_update_sets_anonymous_pull_and_locks_together() -> None:
    fake = FakeRegistry()
    app = ("repository", "update", "-n", "team1", "--repository", "team/app")
    code, out, err = run(fake, *app, "--anonymous-pull-enabled", "true", "-o", "json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "registry": "team1",
        "name": "team/app",
        "anonymousPullEnabled": True,
    }
    # Anonymous pull alone is a management setting: no sign-in to the data plane.
    assert [r.url.path for r in fake.seen] == ["/api/v1/registries/team1/repositories/team/app"]

    fake = FakeRegistry()
    code, out, err = run(
        fake, *app, "--anonymous-pull-enabled", "false", "--list-enabled", "false", "-o", "json"
    )
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert shown["anonymousPullEnabled"] is False
    assert shown["changeableAttributes"]["listEnabled"] is False
    code, out, _ = run(fake, *app, "--anonymous-pull-enabled", "false", "--list-enabled", "false")
    assert code == 0
    assert "Anonymous pull enabled" in out and "List enabled" in out


def test_data_plane_errors_are_reported_without_traceback() -> None:
    code, _, err = run(
        FakeRegistry(), "manifest", "delete", "-r", "team1", "-n", "team/app:nope", "-y"
    )
    assert code == 1
    assert err.strip() == "Error: the tag does not exist"
    code, _, err = run(FakeRegistry(), "manifest", "delete", "-r", "team1", "-n", "team/app", "-y")
    assert code == 1
    assert "REPO:TAG or REPO@DIGEST" in err


def test_admin_reset_password(settings: Settings) -> None:
    result = invoke(
        httpx.MockTransport(lambda request: httpx.Response(500)),
        "admin",
        "reset-password",
        "--data-dir",
        str(settings.data_dir),
        env={"PORTSIDE_ADMIN_PASSWORD": None},
    )
    assert result.exit_code == 0, result.output
    password = result.stdout.strip()
    assert len(password) == 43
    assert "not shown" in result.stderr

    async def verify() -> bool:
        db = Database(settings.resolved_database_url())
        try:
            admin = DeploymentAdmin(CredentialStore(db), SecretHasher())
            return await admin.verify(password) and not await admin.verify("other")
        finally:
            await db.close()

    assert anyio.run(verify)


def test_admin_reset_password_refuses_when_configured(settings: Settings) -> None:
    result = invoke(
        httpx.MockTransport(lambda request: httpx.Response(500)),
        "admin",
        "reset-password",
        "--data-dir",
        str(settings.data_dir),
        env={"PORTSIDE_ADMIN_PASSWORD": "from-env"},
    )
    assert result.exit_code == 1
    assert "configured" in result.stderr
