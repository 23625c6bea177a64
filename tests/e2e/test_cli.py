"""The real `portside` CLI against a real `portside serve` that requires credentials.

Every command runs as a subprocess of the venv's `portside`, signed in as the deployment
administrator (`PORTSIDE_ADMIN_PASSWORD`); what it creates is then used by real clients:
docker with the admin user, a token and the refresh token `portside login` writes, skopeo and
podman with a service principal. The tests run in file order and build on each other's state
(the admin user, the pushed `e2e/app:v1`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .cli_server import (
    NULL_GUID,
    CliServer,
    ContainerTools,
    container_tools,
    docker_login,
    docker_with_config,
    logged_in,
    refused,
    secrets_printed,
    start_cli_server,
    stop_and_check,
)
from .clients import Cli, Registry, remove_tree
from .test_docker import PushedImage, build, image_id, push, remove_local

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SCRATCH = "FROM scratch\nCOPY payload.txt /\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """The credentials-only server and the CLI bound to it; its log is checked at the end."""
    handle = start_cli_server(tmp_path_factory.mktemp("cli"))
    try:
        yield handle
    finally:
        stop_and_check(handle)


@pytest.fixture(scope="module", autouse=True)
def registry(server: CliServer) -> Registry:
    """The server's handle under the name conftest's hook attaches the log tail for."""
    return server.registry


@pytest.fixture(scope="module")
def docker(dockerd: Cli, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The private engine's docker CLI with a configuration folder of this module's own."""
    return docker_with_config(dockerd, tmp_path_factory.mktemp("docker-config"))


@pytest.fixture(scope="module")
def tools(server: CliServer) -> Iterator[ContainerTools]:
    """podman and skopeo for the server."""
    found = container_tools(server.registry)
    try:
        yield found
    finally:
        remove_tree(found.root)


@pytest.fixture(scope="module")
def admin_passwords(server: CliServer) -> dict[str, str]:
    """`registry update default --admin-enabled true`: the two passwords it prints (once)."""
    result = server.run("registry", "update", "default", "--admin-enabled", "true")
    passwords = secrets_printed(result.stdout)
    assert set(passwords) == {"password", "password2"}, result.stdout
    assert "not shown again" in result.stderr
    return passwords


def scratch_image(docker: Cli, context: Path, ref: str, text: str) -> str:
    """Build a FROM-scratch image holding `text`, tagged `ref`; its image id."""
    context.mkdir(parents=True, exist_ok=True)
    (context / "payload.txt").write_text(text)
    return build(docker, context, SCRATCH, ref)


@pytest.fixture(scope="module")
def app_v1(
    server: CliServer,
    docker: Cli,
    admin_passwords: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> PushedImage:
    """`e2e/app:v1`, pushed by docker as the admin user with `password2`."""
    ref = server.registry.ref("e2e/app", "v1")
    local = scratch_image(docker, tmp_path_factory.mktemp("app-v1"), ref, "app v1\n")
    assert logged_in(
        docker_login(docker, server.registry.host, "default", admin_passwords["password2"])
    )
    digest, output = push(docker, ref)
    return PushedImage(ref=ref, image_id=local, digest=digest, push_output=output)


def test_registry_create_list_show_update_delete(server: CliServer) -> None:
    port = int(server.registry.host.rsplit(":", 1)[1])
    created = server.run("registry", "create", "contoso", "--sku", "Premium")
    # A server on loopback gives each registry a loopback login server (test_registries.py).
    assert f"127.0.0.1:{port + 1}" in created.stdout
    table = server.run("registry", "list").stdout
    assert "contoso" in table and server.registry.host in table
    listed = {r["name"]: r for r in server.json("registry", "list")}
    assert listed["contoso"]["loginServer"] == f"127.0.0.1:{port + 1}"
    assert listed["contoso"]["sku"] == "Premium" and listed["contoso"]["default"] is False
    # The default registry is the server's own address: the Host the CLI used.
    assert listed["default"]["loginServer"] == server.registry.host
    assert listed["default"]["default"] is True
    assert server.json("registry", "show", "contoso") == listed["contoso"]
    assert "Premium" in server.run("registry", "show", "contoso").stdout
    updated = server.json("registry", "update", "contoso", "--immutable-tags", "true")
    assert updated["immutableTagsEnabled"] is True and "passwords" not in updated
    assert "already exists" in server.fails("registry", "create", "contoso")
    server.run("registry", "delete", "contoso", "--yes")
    assert "does not exist" in server.fails("registry", "show", "contoso")
    assert [r["name"] for r in server.json("registry", "list")] == ["default"]


def test_admin_user_passwords_work_with_docker_and_renew(
    server: CliServer, docker: Cli, admin_passwords: dict[str, str], app_v1: PushedImage
) -> None:
    host = server.registry.host
    assert logged_in(docker_login(docker, host, "default", admin_passwords["password"]))
    remove_local(docker, app_v1.ref)
    docker("pull", app_v1.ref)
    assert image_id(docker, app_v1.ref) == app_v1.image_id
    # Names and dates only: the values are stored as hashes.
    shown = server.run("credential", "show", "-r", "default")
    assert "password2" in shown.stdout and "default" in shown.stdout
    assert not any(value in shown.stdout + shown.stderr for value in admin_passwords.values())
    data = server.json("credential", "show", "-r", "default")
    assert data["username"] == "default" and data["adminUserEnabled"] is True
    assert [p["name"] for p in data["passwords"]] == ["password", "password2"]
    assert all("value" not in p for p in data["passwords"])
    renew = server.run("credential", "renew", "-r", "default", "--password-name", "password")
    renewed = secrets_printed(renew.stdout)
    assert list(renewed) == ["password"] and renewed["password"] != admin_passwords["password"]
    assert refused(docker_login(docker, host, "default", admin_passwords["password"]))
    assert logged_in(docker_login(docker, host, "default", renewed["password"]))
    assert logged_in(docker_login(docker, host, "default", admin_passwords["password2"]))


def test_token_with_scope_map_pushes_only_its_repository(
    server: CliServer, docker: Cli, app_v1: PushedImage, tmp_path: Path
) -> None:
    actions = ["repositories/e2e/app/content/read", "repositories/e2e/app/content/write"]
    made = server.json(
        "scope-map", "create", "e2e-app-rw", "-r", "default",
        "--repository", "e2e/app", "content/read", "content/write", "--description", "CI",
    )  # fmt: skip
    assert sorted(made["actions"]) == actions and made["type"] == "UserDefined"
    assert "invalid token name" in server.fails(
        "token", "create", "ci", "-r", "default", "--scope-map", "e2e-app-rw"
    )
    created = server.run(
        "token", "create", "ci-token", "-r", "default", "--scope-map", "e2e-app-rw"
    )
    passwords = secrets_printed(created.stdout)
    assert set(passwords) == {"password1", "password2"}, created.stdout
    host, ref = server.registry.host, server.registry.ref("e2e/app", "token")
    other = server.registry.ref("other/app", "token")
    scratch_image(docker, tmp_path, ref, "pushed by a token\n")
    docker("tag", ref, other)
    try:
        assert logged_in(docker_login(docker, host, "ci-token", passwords["password1"]))
        push(docker, ref)
        assert refused(docker("push", other, check=False))
        (listed,) = server.json("token", "list", "-r", "default")
        assert (listed["name"], listed["scopeMap"], listed["status"]) == (
            "ci-token", "e2e-app-rw", "enabled",
        )  # fmt: skip
        disabled = server.json(
            "token", "update", "ci-token", "-r", "default", "--status", "disabled"
        )
        assert disabled["status"] == "disabled"
        # At once: the credentials docker stored are refused, and so is a new login.
        docker("tag", ref, server.registry.ref("e2e/app", "token-2"))
        assert refused(docker("push", server.registry.ref("e2e/app", "token-2"), check=False))
        assert refused(docker_login(docker, host, "ci-token", passwords["password1"]))
        assert [t["status"] for t in server.json("token", "list", "-r", "default")] == ["disabled"]
    finally:
        docker("logout", host, check=False)
        remove_local(docker, other, server.registry.ref("e2e/app", "token-2"))
    # A scope map in use cannot go; once its token is deleted, it can.
    assert "e2e-app-rw" in server.fails("scope-map", "delete", "e2e-app-rw", "-r", "default", "-y")
    server.run("token", "delete", "ci-token", "-r", "default", "--yes")
    server.run("scope-map", "delete", "e2e-app-rw", "-r", "default", "--yes")
    names = [m["name"] for m in server.json("scope-map", "list", "-r", "default")]
    assert "e2e-app-rw" not in names and "_repositories_pull" in names
    tags = server.json("repository", "show-tags", "-n", "default", "--repository", "e2e/app")
    assert "token" in tags and "token-2" not in tags
    assert "other/app" not in server.json("repository", "list", "-n", "default")


def test_service_principal_with_acrpull_pulls_but_cannot_push(
    server: CliServer, tools: ContainerTools, app_v1: PushedImage
) -> None:
    created = server.json("sp", "create", "e2e-puller")
    principal, secret = created["id"], created["secrets"][0]["value"]
    assigned = server.json(
        "role", "assignment", "create", "-r", "default", "--role", "AcrPull",
        "--assignee", principal,
    )  # fmt: skip
    assert (assigned["role"], assigned["assignee"], assigned["repositories"]) == (
        "AcrPull", principal, "*",
    )  # fmt: skip
    listed = server.json("role", "assignment", "list", "-r", "default", "--assignee", principal)
    assert [a["id"] for a in listed] == [assigned["id"]]
    creds = f"{principal}:{secret}"
    inspected = tools.skopeo(
        "inspect", "--tls-verify=false", "--creds", creds, f"docker://{app_v1.ref}"
    )
    assert json.loads(inspected.stdout)["Digest"] == app_v1.digest
    copy_to = server.registry.ref("e2e/app", "by-skopeo")
    copied = tools.skopeo(
        "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", creds,
        "--dest-creds", creds, f"docker://{app_v1.ref}", f"docker://{copy_to}", check=False,
    )  # fmt: skip
    assert refused(copied), copied.stderr
    tools.podman("pull", "--tls-verify=false", "--creds", creds, app_v1.ref)
    push_to = server.registry.ref("e2e/app", "by-podman")
    tools.podman("tag", app_v1.ref, push_to)
    pushed = tools.podman("push", "--tls-verify=false", "--creds", creds, push_to, check=False)
    assert refused(pushed), pushed.stderr
    tags = server.json("repository", "show-tags", "-n", "default", "--repository", "e2e/app")
    assert "by-skopeo" not in tags and "by-podman" not in tags
    # Deleting the service principal takes its access away at once.
    server.run("sp", "delete", principal, "--yes")
    gone = tools.skopeo(
        "inspect", "--tls-verify=false", "--creds", creds, f"docker://{app_v1.ref}", check=False
    )
    assert refused(gone), gone.stderr


def test_login_writes_docker_config_for_the_null_guid(
    server: CliServer, dockerd: Cli, app_v1: PushedImage, tmp_path: Path
) -> None:
    host, config = server.registry.host, tmp_path / "docker-config"
    own = docker_with_config(dockerd, config)
    result = server.run(
        "login", "-n", "default", "--server", server.registry.url,
        extra_env={"DOCKER_CONFIG": str(config)},
    )  # fmt: skip
    assert f"Login Succeeded: {host}" in result.stdout
    written = json.loads((config / "config.json").read_text())
    assert list(written["auths"]) == [host]
    user, _, token = base64.b64decode(written["auths"][host]["auth"]).decode().partition(":")
    assert user == NULL_GUID and token.count(".") == 2
    assert (config / "config.json").stat().st_mode & 0o777 == 0o600
    # docker finds the entry under the address it pulls from: no `docker login` needed.
    remove_local(own, app_v1.ref)
    own("pull", app_v1.ref)
    assert image_id(own, app_v1.ref) == app_v1.image_id
    # --expose-token prints the refresh token and writes nothing.
    untouched = tmp_path / "untouched"
    exposed = server.run(
        "login", "-n", "default", "--expose-token", extra_env={"DOCKER_CONFIG": str(untouched)}
    )
    printed = json.loads(exposed.stdout)
    assert printed["loginServer"] == host and printed["accessToken"].count(".") == 2
    assert not untouched.exists()
    fresh = docker_with_config(dockerd, tmp_path / "exposed")
    assert logged_in(docker_login(fresh, host, NULL_GUID, printed["accessToken"]))


def test_repository_and_manifest_commands(
    server: CliServer,
    docker: Cli,
    admin_passwords: dict[str, str],
    app_v1: PushedImage,
    tmp_path: Path,
) -> None:
    reg, run, fails = server.registry, server.run, server.fails
    assert logged_in(docker_login(docker, reg.host, "default", admin_passwords["password2"]))
    scratch_image(docker, tmp_path / "v2", reg.ref("e2e/app", "v2"), "app v2\n")
    v2, _ = push(docker, reg.ref("e2e/app", "v2"))
    scratch_image(docker, tmp_path / "lib", reg.ref("e2e/lib", "v1"), "lib v1\n")
    push(docker, reg.ref("e2e/lib", "v1"))
    app = ("-n", "default", "--repository", "e2e/app")
    in_app, v1 = ("-r", "default", "-n", "e2e/app"), ("-r", "default", "-n", "e2e/app:v1")

    assert {"e2e/app", "e2e/lib"} <= set(server.json("repository", "list", "-n", "default"))
    assert "e2e/lib" in run("repository", "list", "-n", "default").stdout
    tags = server.json("repository", "show-tags", *app)
    assert {"v1", "v2"} <= set(tags) and tags == sorted(tags)
    newest = server.json("repository", "show-tags", *app, "--orderby", "time_desc")
    assert newest.index("v2") < newest.index("v1")
    oldest = server.json("repository", "show-tags", *app, "--orderby", "time_asc")
    assert oldest == newest[::-1]
    assert len(server.json("repository", "show-tags", *app, "--top", "1")) == 1
    detail = {
        t["name"]: t["digest"] for t in server.json("repository", "show-tags", *app, "--detail")
    }
    assert detail["v1"] == app_v1.digest and detail["v2"] == v2
    shown = server.json("repository", "show", *app)
    assert shown["imageName"] == "e2e/app" and shown["tagCount"] >= 2
    tag = server.json("repository", "show", "-n", "default", "--image", "e2e/app:v1")
    assert tag["digest"] == app_v1.digest
    manifests = {m["digest"]: m for m in server.json("manifest", "list-metadata", *in_app)}
    assert "v1" in manifests[app_v1.digest]["tags"] and manifests[v2]["tags"] == ["v2"]
    assert v2 in run("manifest", "list-metadata", *in_app).stdout  # digests are never wrapped
    recent = server.json("manifest", "list-metadata", *in_app, "--orderby", "time_desc")
    assert recent[0]["digest"] == v2
    meta = server.json("manifest", "show-metadata", *v1)
    assert meta["digest"] == app_v1.digest and meta["changeableAttributes"]["writeEnabled"]

    # A write-disabled manifest cannot be deleted (its tags move by their own locks).
    locked = server.json("manifest", "update-metadata", *v1, "--write-enabled", "false")
    assert locked["changeableAttributes"]["writeEnabled"] is False
    assert "write-disabled" in fails("manifest", "delete", *v1, "--yes")
    run("manifest", "update-metadata", *v1, "--write-enabled", "true")
    # A write-disabled tag refuses docker pushes over it until it is enabled again.
    v3_ref = reg.ref("e2e/app", "v2")
    scratch_image(docker, tmp_path / "v3", v3_ref, "app v3\n")
    tag_lock = server.json(
        "repository", "update", "-n", "default", "--image", "e2e/app:v2", "--write-enabled", "false"
    )
    assert tag_lock["changeableAttributes"]["writeEnabled"] is False
    over = docker("push", v3_ref, check=False)
    assert refused(over), over.stderr
    assert "write-disabled" in over.stderr + over.stdout
    run("repository", "update", "-n", "default", "--image", "e2e/app:v2", "--write-enabled", "true")
    v3, _ = push(docker, v3_ref)
    assert v3 != v2

    unlocked = run("repository", "update", *app, "--list-enabled", "true").stdout
    assert "e2e/app" in unlocked and "List enabled" in unlocked

    run("repository", "untag", "-n", "default", "--image", "e2e/app:v2")
    assert "v2" not in server.json("repository", "show-tags", *app)
    manifests = {m["digest"]: m for m in server.json("manifest", "list-metadata", *in_app)}
    assert v3 in manifests and not manifests[v3].get("tags")
    run("manifest", "delete", "-r", "default", "-n", f"e2e/app@{v3}", "--yes")
    left = {m["digest"] for m in server.json("manifest", "list-metadata", *in_app)}
    assert v3 not in left and app_v1.digest in left
    fails("manifest", "show-metadata", "-r", "default", "-n", f"e2e/app@{v3}")
    run("repository", "delete", "-n", "default", "--repository", "e2e/lib", "--yes")
    assert "e2e/lib" not in server.json("repository", "list", "-n", "default")
    fails("repository", "show", "-n", "default", "--repository", "e2e/lib")
    docker("logout", reg.host, check=False)


MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def anonymous_manifest_status(registry: Registry, repository: str, tag: str) -> int:
    """`GET /v2/REPO/manifests/TAG` as an anonymous client does it: the request, then (on a
    Bearer challenge) a token asked for without credentials, then the request again."""
    path = f"/v2/{repository}/manifests/{tag}"
    headers = {"Accept": MANIFEST_TYPES}
    with httpx.Client(base_url=registry.url, timeout=10) as client:
        first = client.get(path, headers=headers)
        challenge = first.headers.get("www-authenticate", "")
        if first.status_code != 401 or not challenge.startswith("Bearer "):
            return first.status_code
        params = dict(part.split("=", 1) for part in challenge[7:].split(","))
        realm = params.pop("realm").strip('"')
        query = {key: value.strip('"') for key, value in params.items() if key != "error"}
        token = client.get(realm, params=query)
        if token.status_code != 200:
            return token.status_code
        bearer = {"Authorization": f"Bearer {token.json()['token']}"}
        return client.get(path, headers={**headers, **bearer}).status_code


def test_repository_anonymous_pull(server: CliServer, app_v1: PushedImage) -> None:
    app = ("repository", "update", "-n", "default", "--repository", "e2e/app")
    assert anonymous_manifest_status(server.registry, "e2e/app", "v1") == 401
    opened = server.json(*app, "--anonymous-pull-enabled", "true")
    assert opened["anonymousPullEnabled"] is True
    assert anonymous_manifest_status(server.registry, "e2e/app", "v1") == 200
    closed = server.run(*app, "--anonymous-pull-enabled", "false").stdout
    assert "Anonymous pull enabled" in closed
    assert anonymous_manifest_status(server.registry, "e2e/app", "v1") == 401


def test_errors_exit_1_with_a_message(server: CliServer) -> None:
    wrong = server.fails("registry", "list", "--admin-password", "not-the-password")
    assert "invalid user name or password" in wrong
    assert "does not exist" in server.fails("registry", "show", "nosuch")
    assert "does not exist" in server.fails("repository", "list", "-n", "nosuch")
    assert "does not exist" in server.fails("login", "-n", "nosuch", "--expose-token")
    assert "no credentials" in server.fails(
        "registry", "list", extra_env={"PORTSIDE_ADMIN_PASSWORD": ""}
    )
    assert "cannot be deleted" in server.fails("registry", "delete", "default", "--yes")
    # A service principal without a management role sees nothing and may change nothing.
    created = server.json("sp", "create", "e2e-nobody")
    as_principal = {
        "PORTSIDE_USERNAME": created["id"],
        "PORTSIDE_PASSWORD": created["secrets"][0]["value"],
    }
    assert server.json("registry", "list", extra_env=as_principal) == []
    server.fails("registry", "show", "default", extra_env=as_principal)
    server.fails("registry", "create", "mine", extra_env=as_principal)
