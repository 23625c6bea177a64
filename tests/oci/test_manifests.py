"""Manifest parsing: references extracted, schema violations rejected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portside.oci import media_types as mt
from portside.oci.digests import Digest
from portside.oci.errors import ManifestInvalid, ManifestTooLarge
from portside.oci.manifests import MAX_MANIFEST_BYTES, parse_manifest

D1 = str(Digest.of(b"1"))
D2 = str(Digest.of(b"2"))
D3 = str(Digest.of(b"3"))


def image(**extra: Any) -> dict[str, Any]:
    """A minimal OCI image manifest."""
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": D1,
            "size": 1,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": D2, "size": 1}
        ],
        **extra,
    }


def parse(doc: Any, content_type: str | None = None) -> Any:
    """Parse a document given as Python data."""
    return parse_manifest(json.dumps(doc).encode(), content_type)


def test_image_references_config_and_layers() -> None:
    parsed = parse(image())
    assert [str(d.digest) for d in parsed.blobs] == [D1, D2]
    assert parsed.children == ()
    assert parsed.artifact_type == "application/vnd.oci.image.config.v1+json"


def test_artifact_with_subject_and_annotations() -> None:
    subject = {"mediaType": mt.OCI_MANIFEST, "digest": D3, "size": 10}
    parsed = parse(
        image(artifactType="application/x.sbom", subject=subject, annotations={"a": "b"})
    )
    assert parsed.artifact_type == "application/x.sbom"
    assert parsed.subject is not None and str(parsed.subject.digest) == D3
    assert parsed.annotations == {"a": "b"}


def test_index_references_children_not_blobs() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {"mediaType": mt.OCI_MANIFEST, "digest": D1, "size": 5, "platform": {"os": "linux"}},
            {"mediaType": mt.OCI_MANIFEST, "digest": D2, "size": 5},
        ],
    }
    parsed = parse(doc)
    assert parsed.is_index
    assert [str(d.digest) for d in parsed.children] == [D1, D2]
    assert parsed.blobs == ()


def test_media_type_from_content_type_when_body_has_none() -> None:
    doc = image()
    del doc["mediaType"]
    assert parse(doc, mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST


def test_foreign_layers_are_not_required_blobs() -> None:
    foreign = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": D3,
        "size": 1,
        "urls": ["https://example.invalid/layer"],
    }
    doc = image()
    doc["layers"].append(foreign)
    assert [str(d.digest) for d in parse(doc).blobs] == [D1, D2]


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"schemaVersion": 1},
        {"schemaVersion": 2, "mediaType": "application/x.unknown"},
        {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST},
        image(config={"mediaType": "x", "digest": "sha256:nope", "size": 1}),
        image(config={"mediaType": "x", "digest": D1, "size": -1}),
        image(config={"mediaType": "x", "digest": D1, "size": True}),
        image(config={"digest": D1, "size": 1}),
        image(layers={"not": "a list"}),
        image(annotations={"a": 1}),
        image(subject="not a descriptor"),
        image(artifactType=5),
    ],
)
def test_schema_violations_are_rejected(doc: Any) -> None:
    with pytest.raises(ManifestInvalid):
        parse(doc)


def test_mismatched_content_type_is_rejected() -> None:
    with pytest.raises(ManifestInvalid, match="does not match"):
        parse(image(), mt.DOCKER_MANIFEST)


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"null", b""])
def test_non_json_is_rejected(body: bytes) -> None:
    with pytest.raises(ManifestInvalid):
        parse_manifest(body, None)


def test_oversize_is_rejected_before_parsing() -> None:
    with pytest.raises(ManifestTooLarge):
        parse_manifest(b" " * (MAX_MANIFEST_BYTES + 1), None)
