"""`portside import` and `portside credential-set` end to end.

Upstreams are real registries on loopback: the reference registry (distribution 2.8, no
referrers API: referrers by the tag schema) holding a two-platform image under a three-level
name and a signature referring to it, and a second Portside with authentication on (token
auth) for credential sets. The importing Portside allows private network targets (loopback);
a second deployment with the default setting refuses them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.registry_client import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    digest_of,
)

from .cli_server import CliServer, secrets_printed, start_cli_server, stop_and_check
from .clients import Registry
from .conftest import start_registry

REPO = "team/app/base"
SIGNATURE_TYPE = "application/vnd.example.signature.v1"


@dataclass(frozen=True)
class Upstream:
    """The reference registry and what it holds."""

    registry: Registry
    index: str
    amd64: str
    arm64: str
    layers: dict[str, bytes]
    signature: str


def put_blob(http: httpx.Client, repo: str, data: bytes) -> str:
    """A monolithic blob push (POST ?digest=, or POST then PUT where that is refused)."""
    digest = digest_of(data)
    started = http.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    joiner = "&" if "?" in location else "?"
    done = http.put(f"{location}{joiner}digest={digest}", content=data)
    assert done.status_code == 201, done.text
    return digest


def put_manifest(http: httpx.Client, repo: str, reference: str, body: bytes, media: str) -> str:
    """Push a manifest; its digest."""
    response = http.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media}
    )
    assert response.status_code == 201, response.text
    return digest_of(body)


def image(http: httpx.Client, repo: str, arch: str) -> tuple[bytes, bytes]:
    """Push one platform's config and layer; its manifest body and layer bytes."""
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {}}).encode()
    layer = f"layer of {arch} ".encode() * 4096
    put_blob(http, repo, config)
    put_blob(http, repo, layer)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(OCI_LAYER, layer)],
        }
    ).encode()
    return body, layer


def populate(registry: Registry) -> Upstream:
    """The two-platform index `team/app/base:v1` and a signature of it (tag schema)."""
    with httpx.Client(base_url=registry.url, timeout=30.0) as http:
        bodies = {arch: image(http, REPO, arch) for arch in ("amd64", "arm64")}
        digests = {
            arch: put_manifest(http, REPO, digest_of(body), body, OCI_MANIFEST)
            for arch, (body, _) in bodies.items()
        }
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    descriptor(
                        OCI_MANIFEST, bodies[a][0], platform={"os": "linux", "architecture": a}
                    )
                    for a in ("amd64", "arm64")
                ],
            }
        ).encode()
        index_digest = put_manifest(http, REPO, "v1", index, OCI_INDEX)
        empty = b"{}"
        put_blob(http, REPO, empty)
        payload = b"signature bytes"
        put_blob(http, REPO, payload)
        signature = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": SIGNATURE_TYPE,
                "config": descriptor("application/vnd.oci.empty.v1+json", empty),
                "layers": [descriptor("application/octet-stream", payload)],
                "subject": {"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index)},
            }
        ).encode()
        signature_digest = put_manifest(http, REPO, digest_of(signature), signature, OCI_MANIFEST)
        # distribution 2.8 has no referrers API: a client then keeps an index of the
        # referrers under the tag `sha256-<hex>` (the OCI fallback).
        referrers = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [descriptor(OCI_MANIFEST, signature, artifactType=SIGNATURE_TYPE)],
            }
        ).encode()
        put_manifest(http, REPO, index_digest.replace(":", "-"), referrers, OCI_INDEX)
    return Upstream(
        registry,
        index_digest,
        digests["amd64"],
        digests["arm64"],
        {a: layer for a, (_, layer) in bodies.items()},
        signature_digest,
    )


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    """The reference registry, populated."""
    server, registry = start_registry("reference", tmp_path_factory.mktemp("upstream"))
    try:
        yield populate(registry)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def importer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """The importing Portside: private network targets allowed, a second registry `other`."""
    server = start_cli_server(
        tmp_path_factory.mktemp("importer"), {"PORTSIDE_ALLOW_PRIVATE_NETWORK_TARGETS": "true"}
    )
    try:
        server.run("registry", "create", "other")
        yield server
    finally:
        stop_and_check(server)


def registry_user(server: CliServer, registry: str) -> tuple[str, str]:
    """Switch on the registry's admin user: its name and password."""
    result = server.run("registry", "update", registry, "--admin-enabled", "true")
    return registry, secrets_printed(result.stdout)["password"]


def data_client(server: CliServer, login: tuple[str, str], scope: str) -> httpx.Client:
    """A /v2 client of `server` holding a bearer token for `scope`."""
    token = httpx.get(
        f"{server.registry.url}/oauth2/token",
        params={"service": server.registry.host, "scope": scope},
        auth=login,
        timeout=30.0,
    )
    assert token.status_code == 200, token.text
    bearer = token.json().get("token") or token.json()["access_token"]
    return httpx.Client(
        base_url=server.registry.url,
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30.0,
    )


@pytest.fixture(scope="module")
def reader(importer: CliServer) -> tuple[str, str]:
    """The importer's default registry admin user."""
    return registry_user(importer, "default")


def manifest_digest(server: CliServer, login: tuple[str, str], repo: str, ref: str) -> str | None:
    """The digest a repository's tag or digest resolves to; None if it is not there."""
    with data_client(server, login, f"repository:{repo}:pull") as http:
        response = http.get(
            f"/v2/{repo}/manifests/{ref}", headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"}
        )
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return str(response.headers["docker-content-digest"])


def imported(server: CliServer, *args: str) -> dict[str, object]:
    """`portside import ARGS -o json`, which must succeed."""
    job = server.json("import", *args)
    assert job["status"] == "succeeded", job
    return dict(job)


def test_index_with_two_platforms_under_a_three_level_name(
    importer: CliServer, upstream: Upstream, reader: tuple[str, str]
) -> None:
    job = imported(
        importer, "-r", "default", "--source", f"{upstream.registry.host}/{REPO}:v1",
        "--image", "mirror/team/base:v1",
    )  # fmt: skip
    assert job["result"]["digest"] == upstream.index  # type: ignore[index]
    assert job["bytesDone"] == job["bytesTotal"] > 2 * 4096 * 12
    assert manifest_digest(importer, reader, "mirror/team/base", "v1") == upstream.index
    for child in (upstream.amd64, upstream.arm64):
        assert manifest_digest(importer, reader, "mirror/team/base", child) == child
    layer = upstream.layers["arm64"]
    with data_client(importer, reader, "repository:mirror/team/base:pull") as http:
        got = http.get(f"/v2/mirror/team/base/blobs/{digest_of(layer)}", follow_redirects=True)
    assert got.status_code == 200 and got.content == layer
    shown = importer.json("import-show", "-r", "default", str(job["id"]))
    assert shown["status"] == "succeeded"


def test_by_digest_and_by_platform(
    importer: CliServer, upstream: Upstream, reader: tuple[str, str]
) -> None:
    host = upstream.registry.host
    imported(importer, "-r", "default", "--source", f"{host}/{REPO}@{upstream.amd64}",
             "--image", "bydigest/base:amd64")  # fmt: skip
    assert manifest_digest(importer, reader, "bydigest/base", "amd64") == upstream.amd64

    job = imported(importer, "-r", "default", "--source", f"{host}/{REPO}:v1",
                   "--image", "arm/base:v1", "--platform", "linux/arm64")  # fmt: skip
    assert job["result"]["digest"] == upstream.arm64  # type: ignore[index]
    assert manifest_digest(importer, reader, "arm/base", "v1") == upstream.arm64
    # Only the chosen platform: neither the index nor the other platform came along.
    assert manifest_digest(importer, reader, "arm/base", upstream.amd64) is None
    assert manifest_digest(importer, reader, "arm/base", upstream.index) is None
    missing = importer.fails("import", "-r", "default", "--source", f"{host}/{REPO}:v1",
                             "--image", "arm/none:v1", "--platform", "linux/s390x")  # fmt: skip
    assert "s390x" in missing and "linux/amd64" in missing


def test_with_referrers(importer: CliServer, upstream: Upstream, reader: tuple[str, str]) -> None:
    imported(importer, "-r", "default", "--source", f"{upstream.registry.host}/{REPO}:v1",
             "--image", "signed/base:v1", "--with-referrers")  # fmt: skip
    with data_client(importer, reader, "repository:signed/base:pull") as http:
        listed = http.get(f"/v2/signed/base/referrers/{upstream.index}")
    assert listed.status_code == 200, listed.text
    assert [m["digest"] for m in listed.json()["manifests"]] == [upstream.signature]


def blob_files(data_dir: Path) -> dict[str, float]:
    """Every file under the filesystem driver's root, with its modification time."""
    root = data_dir / "blobs"
    return {
        str(path.relative_to(root)): path.stat().st_mtime
        for path in root.rglob("*")
        if path.is_file()
    }


def test_from_another_registry_of_the_deployment_copies_no_byte(
    importer: CliServer, upstream: Upstream, reader: tuple[str, str]
) -> None:
    imported(importer, "-r", "other", "--source", f"{upstream.registry.host}/{REPO}:v1",
             "--image", "team/base:v1")  # fmt: skip
    before = blob_files(importer.registry.data_dir)
    job = imported(importer, "-r", "default", "--registry", "other",
                   "--source", "team/base:v1", "--image", "copied/base:v1")  # fmt: skip
    assert job["result"]["digest"] == upstream.index  # type: ignore[index]
    assert job["bytesDone"] == job["bytesTotal"] > 0
    # Not one file written, not one touched: the blobs were linked, not copied.
    assert blob_files(importer.registry.data_dir) == before
    assert manifest_digest(importer, reader, "copied/base", "v1") == upstream.index


def test_refusals(importer: CliServer, upstream: Upstream, tmp_path: Path) -> None:
    source = f"{upstream.registry.host}/{REPO}@{upstream.amd64}"
    imported(importer, "-r", "default", "--source", source, "--image", "guarded/app:v1")
    exists = importer.fails("import", "-r", "default", "--source", source,
                            "--image", "guarded/app:v1")  # fmt: skip
    assert "exists" in exists and "--force" in exists
    imported(importer, "-r", "default", "--source", source, "--image", "guarded/app:v1", "--force")

    importer.run("repository", "update", "-n", "default", "--repository", "guarded/app",
                 "--write-enabled", "false")  # fmt: skip
    locked = importer.fails("import", "-r", "default", "--source", source,
                            "--image", "guarded/app:v2")  # fmt: skip
    assert "locked" in locked

    nope = f"{upstream.registry.host}/{REPO}:nope"
    unknown = importer.fails("import", "-r", "default", "--source", nope, "--image", "x/y:z")
    assert "UpstreamNotFound" in unknown and upstream.registry.host in unknown


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CliServer, tuple[str, str]]]:
    """A Portside with authentication on holding `private/app:v1`; its admin user."""
    server = start_cli_server(tmp_path_factory.mktemp("secured"))
    try:
        login = registry_user(server, "default")
        with data_client(server, login, "repository:private/app:push,pull") as http:
            body, _ = image(http, "private/app", "amd64")
            put_manifest(http, "private/app", "v1", body, OCI_MANIFEST)
        yield server, login
    finally:
        stop_and_check(server)


def test_credential_set_logs_in_to_a_token_auth_upstream(
    importer: CliServer, secured: tuple[CliServer, tuple[str, str]], reader: tuple[str, str]
) -> None:
    server, (username, password) = secured
    source = f"{server.registry.host}/private/app:v1"
    anonymous = importer.fails("import", "-r", "default", "--source", source)
    assert "UpstreamUnauthorized" in anonymous

    created = importer.json(
        "credential-set", "create", "-r", "default", "-n", "secured-up",
        "--login-server", server.registry.host, "--username", username, "--password", password,
    )  # fmt: skip
    assert created["password"] == "*****"
    job = imported(importer, "-r", "default", "--source", source,
                   "--credential-set", "secured-up", "--image", "fromsecured/app:v1")  # fmt: skip
    assert manifest_digest(importer, reader, "fromsecured/app", "v1") == job["result"]["digest"]  # type: ignore[index]

    shown = importer.run("credential-set", "show", "-r", "default", "-n", "secured-up")
    assert password not in shown.stdout and "*****" in shown.stdout
    database = importer.registry.data_dir / "portside.db"
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT * FROM credential_sets").fetchall()
        requests = conn.execute("SELECT request FROM import_jobs").fetchall()
    assert rows and password.encode() not in repr(rows).encode()
    assert all(password not in r[0] for r in requests)

    with_password = imported(importer, "-r", "default", "--source", source,
                             "--username", username, "--password", password,
                             "--image", "fromsecured/app:v2")  # fmt: skip
    recorded = with_password["request"]
    assert isinstance(recorded, dict) and "password" not in recorded
    assert password not in json.dumps(recorded)


def test_private_upstream_refused_by_default(
    secured: tuple[CliServer, tuple[str, str]], upstream: Upstream
) -> None:
    server, _ = secured  # a deployment with allow_private_network_targets off, the default
    source = f"{upstream.registry.host}/{REPO}:v1"
    refused = server.fails("import", "-r", "default", "--source", source)
    assert "allow_private_network_targets" in refused and upstream.registry.host in refused
