"""Lock flags enforced on /v2/ and /acr/v1, at each level (repository, tag, manifest), and the
registry's immutable tags."""

from __future__ import annotations

from sqlalchemy import update
from starlette.testclient import TestClient

from portside.config import Settings
from portside.metadata.schema import registries
from tests.api.acr_client import denied, disallowed, execute, lock
from tests.registry_client import OCI_MANIFEST, digest_of, push_blob, push_image

REPO = "team/locked"


def put_manifest(client: TestClient, reference: str, body: bytes, repo: str = REPO) -> object:
    """PUT a manifest body."""
    return client.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )


def tag_names(client: TestClient, path: str = f"/v2/{REPO}/tags/list") -> list[str]:
    """The tag names a listing shows (/v2 tags/list or /acr/v1 _tags)."""
    body = client.get(path).json()
    return [t if isinstance(t, str) else t["name"] for t in body["tags"]]


def test_lock_refusals_answer_as_acr_does(client: TestClient) -> None:
    # `az acr` retries a 403 three times, five seconds apart, but reports a 405 at once: a
    # refused delete answers ACR's 405 "disallowed"; a refused write stays 403 DENIED.
    _, body = push_image(client, REPO, "v1")
    lock(client, REPO, writeEnabled=False)
    refused = client.delete(f"/acr/v1/{REPO}/_tags/v1")
    assert refused.status_code == 405
    assert refused.json()["errors"][0] == {
        "code": "REGISTRY_DISALLOWED_OPERATION",
        "message": f"repository {REPO} is write-disabled",
        "detail": {"level": "repository", "name": REPO, "attribute": "writeEnabled"},
    }
    denied(put_manifest(client, "v2", body), f"repository {REPO} is write-disabled")


# --- repository ------------------------------------------------------------------------------


def test_write_disabled_repository_takes_no_pushes_and_no_deletions(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1")
    layer = b"layer of team/locked:v1"
    push_image(client, "team/source", "v1", layers=[b"mountable"])
    started = client.post(f"/v2/{REPO}/blobs/uploads/")
    assert started.status_code == 202
    lock(client, REPO, writeEnabled=False)
    message = f"repository {REPO} is write-disabled"
    denied(client.post(f"/v2/{REPO}/blobs/uploads/"), message)
    denied(client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest_of(b"x")}), message)
    mount = client.post(
        f"/v2/{REPO}/blobs/uploads/",
        params={"mount": digest_of(b"mountable"), "from": "team/source"},
    )
    denied(mount, message)
    # An upload started before the lock cannot link its blob either.
    finish = client.put(
        started.headers["Location"], params={"digest": digest_of(b"late")}, content=b"late"
    )
    denied(finish, message)
    assert client.head(f"/v2/{REPO}/blobs/{digest_of(b'late')}").status_code == 404
    denied(put_manifest(client, "v2", body), message)
    denied(put_manifest(client, digest, body), message)
    disallowed(client.delete(f"/v2/{REPO}/manifests/v1"), message)
    disallowed(client.delete(f"/v2/{REPO}/manifests/{digest}"), message)
    disallowed(client.delete(f"/v2/{REPO}/blobs/{digest_of(layer)}"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}/_tags/v1"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}/_manifests/{digest}"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}"), message)
    # Reads still work, and the attributes can still change: that is how it is unlocked.
    assert client.get(f"/v2/{REPO}/manifests/v1").status_code == 200
    assert client.get(f"/v2/{REPO}/blobs/{digest_of(layer)}").status_code == 200
    assert tag_names(client) == ["v1"]
    lock(client, REPO, writeEnabled=True)
    push_image(client, REPO, "v2")
    assert tag_names(client) == ["v1", "v2"]


def test_delete_disabled_repository_keeps_everything_but_takes_pushes(client: TestClient) -> None:
    digest, _ = push_image(client, REPO, "v1")
    lock(client, REPO, deleteEnabled=False)
    message = f"repository {REPO} is delete-disabled"
    push_image(client, REPO, "v2")
    disallowed(client.delete(f"/v2/{REPO}/manifests/v1"), message)
    disallowed(client.delete(f"/v2/{REPO}/manifests/{digest}"), message)
    disallowed(client.delete(f"/v2/{REPO}/blobs/{digest_of(b'layer of team/locked:v1')}"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}/_tags/v2"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}"), message)
    assert tag_names(client) == ["v1", "v2"]
    lock(client, REPO, deleteEnabled=True)
    assert client.delete(f"/acr/v1/{REPO}").status_code == 202


def test_read_disabled_repository_serves_no_manifests(client: TestClient) -> None:
    digest, _ = push_image(client, REPO, "v1")
    lock(client, REPO, readEnabled=False)
    message = f"repository {REPO} is read-disabled"
    for reference in ("v1", digest):
        denied(client.get(f"/v2/{REPO}/manifests/{reference}"), message)
        assert client.head(f"/v2/{REPO}/manifests/{reference}").status_code == 403
    # Blobs stay readable (documented), and so do listings and metadata.
    assert (
        client.get(f"/v2/{REPO}/blobs/{digest_of(b'layer of team/locked:v1')}").status_code == 200
    )
    assert tag_names(client) == ["v1"]
    assert client.get(f"/acr/v1/{REPO}/_manifests/{digest}").status_code == 200
    # An unknown reference is still 404, not 403: the lock reveals nothing new.
    assert client.get(f"/v2/{REPO}/manifests/nope").status_code == 404
    lock(client, REPO, readEnabled=True)
    assert client.get(f"/v2/{REPO}/manifests/v1").status_code == 200


def test_list_disabled_repositories_leave_the_catalogs(client: TestClient) -> None:
    for repo in ("a/one", "b/one", "c/one", "d/one", "e/one"):
        push_image(client, repo, "v1")
    lock(client, "b/one", listEnabled=False)
    lock(client, "c/one", listEnabled=False)
    for path in ("/v2/_catalog", "/acr/v1/_catalog"):
        assert client.get(path).json()["repositories"] == ["a/one", "d/one", "e/one"]
        first = client.get(f"{path}?n=2")
        assert first.json()["repositories"] == ["a/one", "d/one"]
        assert "last=d%2Fone" in first.headers["link"]
        assert client.get(f"{path}?n=2&last=d%2Fone").json()["repositories"] == ["e/one"]
    assert client.get("/v2/b/one/manifests/v1").status_code == 200
    assert client.get("/v2/b/one/tags/list").json()["tags"] == ["v1"]
    assert client.get("/acr/v1/b/one").json()["changeableAttributes"]["listEnabled"] is False


# --- tag -------------------------------------------------------------------------------------


def test_write_disabled_tag_neither_moves_nor_goes(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1")
    _, other = push_image(client, REPO, "other")
    lock(client, f"{REPO}/_tags/v1", writeEnabled=False)
    message = "tag v1 is write-disabled"
    denied(put_manifest(client, "v1", other), message)
    assert put_manifest(client, "v1", body).status_code == 201  # the same manifest: no change
    disallowed(client.delete(f"/v2/{REPO}/manifests/v1"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}/_tags/v1"), message)
    # Deleting its manifest would delete the tag too.
    disallowed(client.delete(f"/v2/{REPO}/manifests/{digest}"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}"), message)
    assert put_manifest(client, "other", body).status_code == 201  # other tags move freely
    assert client.get(f"/acr/v1/{REPO}/_tags/v1").json()["tag"]["digest"] == digest
    lock(client, f"{REPO}/_tags/v1", writeEnabled=True)
    assert put_manifest(client, "v1", other).status_code == 201


def test_delete_disabled_tag_moves_but_stays(client: TestClient) -> None:
    digest, _ = push_image(client, REPO, "v1")
    _, other = push_image(client, REPO, "other")
    lock(client, f"{REPO}/_tags/v1", deleteEnabled=False)
    message = "tag v1 is delete-disabled"
    assert put_manifest(client, "v1", other).status_code == 201
    disallowed(client.delete(f"/v2/{REPO}/manifests/v1"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}/_tags/v1"), message)
    disallowed(client.delete(f"/v2/{REPO}/manifests/{digest_of(other)}"), message)
    assert client.delete(f"/v2/{REPO}/manifests/{digest}").status_code == 202
    assert tag_names(client) == ["other", "v1"]


def test_read_disabled_tag_cannot_be_pulled_by_that_tag(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1")
    put_manifest(client, "same", body)
    lock(client, f"{REPO}/_tags/v1", readEnabled=False)
    denied(client.get(f"/v2/{REPO}/manifests/v1"), "tag v1 is read-disabled")
    assert client.head(f"/v2/{REPO}/manifests/v1").status_code == 403
    assert client.get(f"/v2/{REPO}/manifests/{digest}").status_code == 200
    assert client.get(f"/v2/{REPO}/manifests/same").status_code == 200


def test_list_disabled_tag_leaves_both_tag_lists(client: TestClient) -> None:
    _, body = push_image(client, REPO, "b")
    for name in ("a", "c"):
        put_manifest(client, name, body)
    acr = f"/acr/v1/{REPO}/_tags"
    assert tag_names(client) == ["a", "b", "c"]  # cached by the listing service now
    assert tag_names(client, acr) == ["a", "b", "c"]
    lock(client, f"{REPO}/_tags/b", listEnabled=False)
    assert tag_names(client) == ["a", "c"]
    assert tag_names(client, acr) == ["a", "c"]
    assert client.get(f"/v2/{REPO}/tags/list?n=1").headers["link"].count("last=a") == 1
    assert client.get(f"/v2/{REPO}/tags/list?n=1&last=a").json()["tags"] == ["c"]
    assert client.get(f"/v2/{REPO}/manifests/b").status_code == 200
    assert client.get(f"{acr}/b").json()["tag"]["changeableAttributes"]["listEnabled"] is False
    lock(client, f"{REPO}/_tags/b", writeEnabled=False)  # no list change: same page, still hidden
    assert tag_names(client) == ["a", "c"]
    lock(client, f"{REPO}/_tags/b", listEnabled=True)
    assert tag_names(client) == ["a", "b", "c"]


# --- manifest --------------------------------------------------------------------------------


def test_write_disabled_manifest_cannot_be_deleted(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1")
    _, other = push_image(client, REPO, "v2")
    lock(client, f"{REPO}/_manifests/{digest}", writeEnabled=False)
    message = f"manifest {digest} is write-disabled"
    disallowed(client.delete(f"/v2/{REPO}/manifests/{digest}"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}/_manifests/{digest}"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}"), message)
    # Its tags are locked separately: this one may move, and new ones may name it.
    assert put_manifest(client, "v1", other).status_code == 201
    assert put_manifest(client, "again", body).status_code == 201
    assert put_manifest(client, digest, body).status_code == 201
    assert client.get(f"/v2/{REPO}/manifests/{digest}").status_code == 200


def test_delete_disabled_manifest_cannot_be_deleted(client: TestClient) -> None:
    digest, _ = push_image(client, REPO, "v1")
    lock(client, f"{REPO}/_manifests/{digest}", deleteEnabled=False)
    message = f"manifest {digest} is delete-disabled"
    disallowed(client.delete(f"/v2/{REPO}/manifests/{digest}"), message)
    disallowed(client.delete(f"/acr/v1/{REPO}/_manifests/{digest}"), message)
    assert client.delete(f"/v2/{REPO}/manifests/v1").status_code == 202  # the tag may go
    lock(client, f"{REPO}/_manifests/{digest}", deleteEnabled=True)
    assert client.delete(f"/acr/v1/{REPO}/_manifests/{digest}").status_code == 202


def test_read_disabled_manifest_cannot_be_pulled_at_all(client: TestClient) -> None:
    digest, _ = push_image(client, REPO, "v1")
    lock(client, f"{REPO}/_manifests/{digest}", readEnabled=False)
    message = f"manifest {digest} is read-disabled"
    denied(client.get(f"/v2/{REPO}/manifests/{digest}"), message)
    denied(client.get(f"/v2/{REPO}/manifests/v1"), message)
    assert client.head(f"/v2/{REPO}/manifests/v1").status_code == 403
    assert client.get(f"/acr/v1/{REPO}/_manifests/{digest}").status_code == 200


def test_list_disabled_manifest_leaves_the_manifest_list(client: TestClient) -> None:
    digest, _ = push_image(client, REPO, "v1")
    second, _ = push_image(client, REPO, "v2")
    lock(client, f"{REPO}/_manifests/{digest}", listEnabled=False)
    listed = client.get(f"/acr/v1/{REPO}/_manifests").json()["manifests"]
    assert [m["digest"] for m in listed] == [second]
    assert client.get(f"/acr/v1/{REPO}/_manifests/{digest}").status_code == 200
    assert client.get(f"/v2/{REPO}/manifests/{digest}").status_code == 200
    assert tag_names(client) == ["v1", "v2"]  # its tags are listed by their own flags


# --- immutable tags --------------------------------------------------------------------------


def test_immutable_tags_refuse_moves_only(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1")
    _, other = push_image(client, REPO, "other")
    execute(client, update(registries).values(immutable_tags=True))
    moved = put_manifest(client, "v1", other)
    denied(moved, "tags are immutable", status=409)
    assert "v1" in moved.json()["errors"][0]["message"]
    assert put_manifest(client, "v1", body).status_code == 201  # the same manifest again
    assert put_manifest(client, "new", other).status_code == 201  # a new tag
    assert client.get(f"/acr/v1/{REPO}/_tags/v1").json()["tag"]["digest"] == digest
    assert client.delete(f"/v2/{REPO}/manifests/v1").status_code == 202
    assert put_manifest(client, "v1", other).status_code == 201  # a new tag again
    execute(client, update(registries).values(immutable_tags=False))
    assert put_manifest(client, "v1", body).status_code == 201


def test_refused_uploads_leave_no_bytes_behind(client: TestClient, settings: Settings) -> None:
    push_blob(client, REPO, b"first")
    lock(client, REPO, writeEnabled=False)
    denied(client.post(f"/v2/{REPO}/blobs/uploads/"), "write-disabled")
    denied(client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest_of(b"x")}), "")
    uploads = settings.resolved_storage_path() / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
    lock(client, REPO, writeEnabled=True)
    assert push_blob(client, REPO, b"second") == digest_of(b"second")
