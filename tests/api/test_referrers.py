"""The referrers API: artifacts whose subject is a manifest, filtered by artifactType."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.registry_client import (
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    error_code,
    push_blob,
    push_image,
)

REPO = "team/referrers"
EMPTY_JSON = "application/vnd.oci.empty.v1+json"
SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


def push_artifact(
    client: TestClient,
    subject: dict[str, Any],
    artifact_type: str,
    payload: bytes,
    annotations: dict[str, str] | None = None,
) -> tuple[str, bytes]:
    """Push an artifact (empty config, one payload layer) referring to `subject`."""
    push_blob(client, REPO, b"{}")
    push_blob(client, REPO, payload)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(EMPTY_JSON, b"{}"),
        "layers": [descriptor("application/octet-stream", payload)],
        "subject": subject,
    }
    if annotations:
        doc["annotations"] = annotations
    body = json.dumps(doc).encode()
    response = client.put(
        f"/v2/{REPO}/manifests/{digest_of(body)}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return digest_of(body), body


@pytest.fixture
def image(client: TestClient) -> dict[str, Any]:
    """A pushed image; its descriptor."""
    _, body = push_image(client, REPO, "v1")
    return descriptor(OCI_MANIFEST, body)


def referrers(client: TestClient, subject: str, **params: str) -> Any:
    """GET the referrers of `subject`, which must answer 200 with an OCI index."""
    response = client.get(f"/v2/{REPO}/referrers/{subject}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == OCI_INDEX
    index = response.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    return response


def test_referrers_lists_every_artifact_with_its_descriptor(
    client: TestClient, image: dict[str, Any]
) -> None:
    sbom, sbom_body = push_artifact(
        client, image, SBOM, b"sbom contents", {"org.example.kind": "sbom"}
    )
    sig, sig_body = push_artifact(
        client, image, SIGNATURE, b"signature", {"org.opencontainers.image.created": "2024-01-01"}
    )
    found = referrers(client, image["digest"]).json()["manifests"]
    assert sorted(found, key=lambda d: d["digest"]) == sorted(
        [
            {
                "mediaType": OCI_MANIFEST,
                "digest": sbom,
                "size": len(sbom_body),
                "artifactType": SBOM,
                "annotations": {"org.example.kind": "sbom"},
            },
            {
                "mediaType": OCI_MANIFEST,
                "digest": sig,
                "size": len(sig_body),
                "artifactType": SIGNATURE,
                "annotations": {"org.opencontainers.image.created": "2024-01-01"},
            },
        ],
        key=lambda d: d["digest"],
    )


def test_artifact_type_filter_keeps_matching_referrers_and_says_so(
    client: TestClient, image: dict[str, Any]
) -> None:
    push_artifact(client, image, SBOM, b"sbom")
    sig, _ = push_artifact(client, image, SIGNATURE, b"sig")
    response = referrers(client, image["digest"], artifactType=SIGNATURE)
    assert [d["digest"] for d in response.json()["manifests"]] == [sig]
    assert response.headers["OCI-Filters-Applied"] == "artifactType"
    unfiltered = referrers(client, image["digest"])
    assert "OCI-Filters-Applied" not in unfiltered.headers
    none = referrers(client, image["digest"], artifactType="application/vnd.example.none")
    assert none.json()["manifests"] == []
    assert none.headers["OCI-Filters-Applied"] == "artifactType"


def test_artifact_without_artifact_type_is_listed_by_its_config_type(
    client: TestClient, image: dict[str, Any]
) -> None:
    config = b'{"kind": "attestation"}'
    push_blob(client, REPO, config)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.example.attestation.config", config),
        "layers": [],
        "subject": image,
    }
    body = json.dumps(doc).encode()
    put = client.put(
        f"/v2/{REPO}/manifests/{digest_of(body)}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert put.status_code == 201, put.text
    found = referrers(client, image["digest"]).json()["manifests"]
    assert [(d["digest"], d["artifactType"]) for d in found] == [
        (digest_of(body), "application/vnd.example.attestation.config")
    ]


def test_unknown_subject_has_an_empty_index(client: TestClient, image: dict[str, Any]) -> None:
    push_artifact(client, image, SBOM, b"sbom")
    response = referrers(client, digest_of(b"no such manifest"))
    assert response.json()["manifests"] == []


def test_referrers_in_unknown_repository_is_an_empty_index_not_404(client: TestClient) -> None:
    # distribution-spec: a registry supporting the referrers API MUST NOT answer it with 404.
    response = client.get(f"/v2/team/nowhere/referrers/{digest_of(b'x')}")
    assert response.status_code == 200
    assert response.json()["manifests"] == []


def test_referrers_with_malformed_digest_is_400(client: TestClient) -> None:
    response = client.get(f"/v2/{REPO}/referrers/sha256:nothex")
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"


def test_deleted_artifact_leaves_the_referrers_list(
    client: TestClient, image: dict[str, Any]
) -> None:
    sbom, _ = push_artifact(client, image, SBOM, b"sbom")
    sig, _ = push_artifact(client, image, SIGNATURE, b"sig")
    assert client.delete(f"/v2/{REPO}/manifests/{sbom}").status_code == 202
    found = referrers(client, image["digest"]).json()["manifests"]
    assert [d["digest"] for d in found] == [sig]


def test_referrer_pushed_before_its_subject_is_listed(client: TestClient) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": "later"}).encode()
    layer = b"layer of the later image"
    future = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
    }
    future_body = json.dumps(future).encode()
    subject = descriptor(OCI_MANIFEST, future_body)
    sig, _ = push_artifact(client, subject, SIGNATURE, b"early signature")
    assert client.get(f"/v2/{REPO}/manifests/{subject['digest']}").status_code == 404
    before = referrers(client, subject["digest"]).json()["manifests"]
    assert [d["digest"] for d in before] == [sig]
    push_blob(client, REPO, config)
    push_blob(client, REPO, layer)
    put = client.put(
        f"/v2/{REPO}/manifests/later", content=future_body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.status_code == 201
    assert put.headers["Docker-Content-Digest"] == subject["digest"]
    after = referrers(client, subject["digest"]).json()["manifests"]
    assert [d["digest"] for d in after] == [sig]


def test_referrers_of_one_repository_stay_there(client: TestClient, image: dict[str, Any]) -> None:
    push_artifact(client, image, SBOM, b"sbom")
    push_blob(client, "team/other", b"x")
    response = client.get(f"/v2/team/other/referrers/{image['digest']}")
    assert response.status_code == 200
    assert response.json()["manifests"] == []
