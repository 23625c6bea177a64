"""Manifests over HTTP: every supported type, negotiation, verification, tags and deletion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.registry_client import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    error_code,
    image_manifest,
    push_blob,
    push_image,
)

REPO = "team/manifests"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
EMPTY_JSON = "application/vnd.oci.empty.v1+json"
AMD64 = {"architecture": "amd64", "os": "linux"}
ARM64 = {"architecture": "arm64", "os": "linux"}


def put(client: TestClient, reference: str, body: bytes, media_type: str = OCI_MANIFEST) -> Any:
    """PUT a manifest body under REPO."""
    return client.put(
        f"/v2/{REPO}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
    )


def encode(doc: dict[str, Any]) -> bytes:
    """A manifest document as bytes."""
    return json.dumps(doc).encode()


def assert_served(client: TestClient, reference: str, body: bytes, media_type: str) -> None:
    """GET and HEAD of `reference` answer `body` in its stored media type."""
    digest = digest_of(body)
    got = client.get(f"/v2/{REPO}/manifests/{reference}")
    assert got.status_code == 200, got.text
    assert got.content == body
    assert got.headers["Content-Type"] == media_type
    assert got.headers["Docker-Content-Digest"] == digest
    head = client.head(f"/v2/{REPO}/manifests/{reference}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == media_type
    assert head.headers["Content-Length"] == str(len(body))
    assert head.headers["Docker-Content-Digest"] == digest


def push_oci_index(client: TestClient, tag: str = "multi") -> tuple[bytes, list[str]]:
    """Two platform images, then an index of them tagged `tag`; (index body, child digests)."""
    children = []
    for platform, name in ((AMD64, "amd64"), (ARM64, "arm64")):
        _, body = push_image(client, REPO, f"{tag}-{name}", layers=[name.encode()])
        children.append(descriptor(OCI_MANIFEST, body, platform=platform))
    index = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    response = put(client, tag, index, OCI_INDEX)
    assert response.status_code == 201, response.text
    return index, [child["digest"] for child in children]


def docker_manifest(client: TestClient, layer: bytes) -> bytes:
    """Push a Docker config and layer; the schema 2 manifest naming them."""
    config = json.dumps({**AMD64, "rootfs": {"type": "layers"}, "layer": layer.hex()}).encode()
    push_blob(client, REPO, config)
    push_blob(client, REPO, layer)
    return encode(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor(DOCKER_CONFIG, config),
            "layers": [descriptor(DOCKER_LAYER, layer)],
        }
    )


def test_oci_manifest_by_tag_and_digest(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1")
    assert digest == digest_of(body)
    assert_served(client, "v1", body, OCI_MANIFEST)
    assert_served(client, digest, body, OCI_MANIFEST)


def test_put_answers_location_and_digest(client: TestClient) -> None:
    config, layer = b'{"os":"linux"}', b"layer bytes"
    push_blob(client, REPO, config)
    push_blob(client, REPO, layer)
    body = image_manifest(config, [layer])
    response = put(client, "v1", body)
    assert response.status_code == 201
    assert response.headers["Docker-Content-Digest"] == digest_of(body)
    assert response.headers["Location"] == f"/v2/{REPO}/manifests/{digest_of(body)}"
    by_digest = put(client, digest_of(body), body)
    assert by_digest.status_code == 201
    assert by_digest.headers["Docker-Content-Digest"] == digest_of(body)


def test_oci_index_by_tag_and_digest(client: TestClient) -> None:
    index, children = push_oci_index(client)
    assert_served(client, "multi", index, OCI_INDEX)
    assert_served(client, digest_of(index), index, OCI_INDEX)
    for child in children:
        assert client.get(f"/v2/{REPO}/manifests/{child}").status_code == 200


def test_index_with_missing_child_is_manifest_blob_unknown(client: TestClient) -> None:
    _, present = push_image(client, REPO, "present")
    absent = image_manifest(b"{}", [b"never pushed"])
    index = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(OCI_MANIFEST, present, platform=AMD64),
                descriptor(OCI_MANIFEST, absent, platform=ARM64),
            ],
        }
    )
    response = put(client, "multi", index, OCI_INDEX)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    assert digest_of(absent) in json.dumps(response.json()["errors"][0]["detail"])
    assert client.get(f"/v2/{REPO}/manifests/multi").status_code == 404


def test_docker_schema2_manifest_and_manifest_list(client: TestClient) -> None:
    amd = docker_manifest(client, b"docker amd64 layer")
    arm = docker_manifest(client, b"docker arm64 layer")
    assert put(client, "amd64", amd, DOCKER_MANIFEST).status_code == 201
    assert put(client, "arm64", arm, DOCKER_MANIFEST).status_code == 201
    listing = encode(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST,
            "manifests": [
                descriptor(DOCKER_MANIFEST, amd, platform=AMD64),
                descriptor(DOCKER_MANIFEST, arm, platform=ARM64),
            ],
        }
    )
    response = put(client, "latest", listing, DOCKER_LIST)
    assert response.status_code == 201, response.text
    assert_served(client, "amd64", amd, DOCKER_MANIFEST)
    assert_served(client, digest_of(arm), arm, DOCKER_MANIFEST)
    assert_served(client, "latest", listing, DOCKER_LIST)
    assert_served(client, digest_of(listing), listing, DOCKER_LIST)


def test_manifest_without_media_type_field_is_stored_as_content_type(client: TestClient) -> None:
    amd = json.loads(docker_manifest(client, b"untyped layer"))
    del amd["mediaType"]
    body = encode(amd)
    assert put(client, "untyped", body, DOCKER_MANIFEST).status_code == 201
    assert_served(client, "untyped", body, DOCKER_MANIFEST)


def test_index_is_404_to_a_client_accepting_only_image_manifests(client: TestClient) -> None:
    index, _ = push_oci_index(client)
    only_images = f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"
    for reference in ("multi", digest_of(index)):
        response = client.get(f"/v2/{REPO}/manifests/{reference}", headers={"Accept": only_images})
        assert response.status_code == 404
        assert error_code(response) == "MANIFEST_UNKNOWN"
    for accept in ("*/*", f"{OCI_MANIFEST}, {OCI_INDEX}", f"{OCI_INDEX};q=0.5"):
        response = client.get(f"/v2/{REPO}/manifests/multi", headers={"Accept": accept})
        assert response.status_code == 200, accept
        assert response.content == index


def test_manifest_without_accept_header_is_served(client: TestClient) -> None:
    index, _ = push_oci_index(client)
    request = client.build_request("GET", f"/v2/{REPO}/manifests/multi")
    del request.headers["Accept"]
    assert "accept" not in request.headers
    response = client.send(request)
    assert response.status_code == 200
    assert response.content == index


def test_artifact_with_empty_config_and_subject_answers_oci_subject(client: TestClient) -> None:
    subject_digest, subject = push_image(client, REPO, "v1")
    push_blob(client, REPO, b"{}")
    payload = push_blob(client, REPO, b"signature payload")
    artifact = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": descriptor(EMPTY_JSON, b"{}"),
            "layers": [{"mediaType": "application/octet-stream", "digest": payload, "size": 17}],
            "subject": descriptor(OCI_MANIFEST, subject),
        }
    )
    response = put(client, digest_of(artifact), artifact)
    assert response.status_code == 201, response.text
    assert response.headers["OCI-Subject"] == subject_digest
    assert_served(client, digest_of(artifact), artifact, OCI_MANIFEST)


def test_manifest_without_subject_has_no_oci_subject_header(client: TestClient) -> None:
    config, layer = b"{}", b"plain"
    push_blob(client, REPO, config)
    push_blob(client, REPO, layer)
    response = put(client, "plain", image_manifest(config, [layer]))
    assert response.status_code == 201
    assert "OCI-Subject" not in response.headers


def test_manifest_with_missing_layer_is_manifest_blob_unknown(client: TestClient) -> None:
    config, present, absent = b'{"os":"linux"}', b"pushed layer", b"missing layer"
    push_blob(client, REPO, config)
    push_blob(client, REPO, present)
    response = put(client, "v1", image_manifest(config, [present, absent]))
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    detail = json.dumps(response.json()["errors"][0]["detail"])
    assert digest_of(absent) in detail
    assert digest_of(present) not in detail
    assert client.get(f"/v2/{REPO}/manifests/v1").status_code == 404


def test_manifest_referencing_blob_of_another_repository_is_refused(client: TestClient) -> None:
    config, layer = b"{}", b"elsewhere"
    push_blob(client, "team/elsewhere", config)
    push_blob(client, "team/elsewhere", layer)
    response = put(client, "v1", image_manifest(config, [layer]))
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


@pytest.mark.parametrize(
    "body", [b"", b"{", b"not json", b'{"schemaVersion": 2,}', b"\xff\xfe\xfa"]
)
def test_invalid_json_is_manifest_invalid(client: TestClient, body: bytes) -> None:
    response = put(client, "bad", body)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"


def _valid_doc() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, b"{}"),
        "layers": [descriptor(OCI_LAYER, b"layer")],
    }


def _without_config(doc: dict[str, Any]) -> None:
    del doc["config"]


def _negative_size(doc: dict[str, Any]) -> None:
    doc["layers"][0]["size"] = -1


def _bad_layer_digest(doc: dict[str, Any]) -> None:
    doc["layers"][0]["digest"] = "sha256:xyz"


def _bad_config_digest(doc: dict[str, Any]) -> None:
    doc["config"]["digest"] = "md5:d41d8cd98f00b204e9800998ecf8427e"


def _schema_version_1(doc: dict[str, Any]) -> None:
    doc["schemaVersion"] = 1


def _no_schema_version(doc: dict[str, Any]) -> None:
    del doc["schemaVersion"]


def _layers_not_a_list(doc: dict[str, Any]) -> None:
    doc["layers"] = {"0": doc["layers"][0]}


def _size_a_string(doc: dict[str, Any]) -> None:
    doc["config"]["size"] = "2"


def _unknown_media_type(doc: dict[str, Any]) -> None:
    doc["mediaType"] = "application/vnd.example.not-a-manifest"


@pytest.mark.parametrize(
    "damage",
    [
        _without_config,
        _negative_size,
        _bad_layer_digest,
        _bad_config_digest,
        _schema_version_1,
        _no_schema_version,
        _layers_not_a_list,
        _size_a_string,
        _unknown_media_type,
    ],
)
def test_schema_invalid_manifest_is_manifest_invalid(client: TestClient, damage: Any) -> None:
    push_blob(client, REPO, b"{}")
    push_blob(client, REPO, b"layer")
    doc = _valid_doc()
    damage(doc)
    response = put(client, "bad", encode(doc))
    assert response.status_code == 400, response.text
    assert error_code(response) == "MANIFEST_INVALID"


def test_content_type_contradicting_media_type_is_manifest_invalid(client: TestClient) -> None:
    push_blob(client, REPO, b"{}")
    push_blob(client, REPO, b"layer")
    response = put(client, "bad", encode(_valid_doc()), OCI_INDEX)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"


def test_oversize_manifest_is_413_manifest_invalid(client: TestClient) -> None:
    doc = _valid_doc()
    doc["annotations"] = {"padding": "x" * (4 * 1024 * 1024)}
    response = put(client, "huge", encode(doc))
    assert response.status_code == 413
    assert error_code(response) == "MANIFEST_INVALID"

    def stream() -> Any:
        body = encode(doc)
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    streamed = put(client, "huge", stream())
    assert streamed.status_code == 413
    assert error_code(streamed) == "MANIFEST_INVALID"
    assert client.get(f"/v2/{REPO}/manifests/huge").status_code == 404


def test_put_by_digest_not_matching_body_is_digest_invalid(client: TestClient) -> None:
    _, body = push_image(client, REPO, "v1")
    response = put(client, digest_of(body + b" "), body)
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"


def test_tag_moves_to_the_newly_pushed_manifest(client: TestClient) -> None:
    first, first_body = push_image(client, REPO, "latest", layers=[b"one"])
    second, second_body = push_image(client, REPO, "latest", layers=[b"two"])
    assert first != second
    assert client.get(f"/v2/{REPO}/manifests/latest").content == second_body
    assert client.get(f"/v2/{REPO}/manifests/{first}").content == first_body
    assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["latest"]


def test_delete_by_tag_removes_only_the_tag(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1")
    assert put(client, "v1-alias", body).status_code == 201
    assert client.delete(f"/v2/{REPO}/manifests/v1").status_code == 202
    response = client.get(f"/v2/{REPO}/manifests/v1")
    assert response.status_code == 404
    assert error_code(response) == "MANIFEST_UNKNOWN"
    assert client.get(f"/v2/{REPO}/manifests/{digest}").content == body
    assert client.get(f"/v2/{REPO}/manifests/v1-alias").content == body
    assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["v1-alias"]


def test_delete_by_digest_removes_manifest_and_its_tags(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1")
    assert put(client, "also", body).status_code == 201
    push_image(client, REPO, "keep", layers=[b"other"])
    assert client.delete(f"/v2/{REPO}/manifests/{digest}").status_code == 202
    for reference in (digest, "v1", "also"):
        response = client.get(f"/v2/{REPO}/manifests/{reference}")
        assert response.status_code == 404, reference
        assert error_code(response) == "MANIFEST_UNKNOWN"
    assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["keep"]
    again = client.delete(f"/v2/{REPO}/manifests/{digest}")
    assert again.status_code == 404
    assert error_code(again) == "MANIFEST_UNKNOWN"


def test_unknown_tag_in_existing_repository_is_manifest_unknown(client: TestClient) -> None:
    push_image(client, REPO, "v1")
    for method in ("GET", "HEAD", "DELETE"):
        response = client.request(method, f"/v2/{REPO}/manifests/nope")
        assert response.status_code == 404, method
    assert error_code(client.get(f"/v2/{REPO}/manifests/nope")) == "MANIFEST_UNKNOWN"
    missing = client.get(f"/v2/{REPO}/manifests/{digest_of(b'nothing')}")
    assert error_code(missing) == "MANIFEST_UNKNOWN"


def test_unknown_repository_is_name_unknown(client: TestClient) -> None:
    for reference in ("latest", digest_of(b"nothing")):
        response = client.get(f"/v2/team/nowhere/manifests/{reference}")
        assert response.status_code == 404
        assert error_code(response) == "NAME_UNKNOWN"


@pytest.mark.parametrize("tag", ["-bad", ".hidden", "t" * 129, "t" * 200, "sp%20ace", "a%2Bb"])
def test_push_of_an_invalid_tag_is_tag_invalid(client: TestClient, tag: str) -> None:
    _, body = push_image(client, REPO, "v1")
    response = put(client, tag, body)
    assert response.status_code == 400, tag
    assert error_code(response) == "TAG_INVALID"


@pytest.mark.parametrize(
    "reference",
    [".INVALID_MANIFEST_NAME", "-bad", "t" * 129, "sp%20ace", "sha256:xyz", "md5:00"],
)
def test_read_or_delete_of_an_impossible_reference_is_manifest_unknown(
    client: TestClient, reference: str
) -> None:
    """A reference no manifest can have names no manifest (the OCI conformance suite's case)."""
    push_image(client, REPO, "v1")
    url = f"/v2/{REPO}/manifests/{reference}"
    for response in (client.get(url), client.head(url), client.delete(url)):
        assert response.status_code == 404, (response.request.method, reference)
        if response.request.method != "HEAD":
            assert error_code(response) == "MANIFEST_UNKNOWN"


def test_longest_valid_tag_is_accepted(client: TestClient) -> None:
    _, body = push_image(client, REPO, "v1")
    tag = "T" + "_.-9" * 31 + "abc"
    assert len(tag) == 128
    assert put(client, tag, body).status_code == 201
    assert client.get(f"/v2/{REPO}/manifests/{tag}").content == body
