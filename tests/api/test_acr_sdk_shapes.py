"""The /acr/v1 JSON, fed to the deserializers of Microsoft's `azure-containerregistry` SDK:
every field the SDK reads comes through (times parsed, booleans, sizes, platforms, links)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.containerregistry import (
    ArtifactManifestProperties,
    ArtifactTagProperties,
    RepositoryProperties,
)
from azure.containerregistry._generated import models as public_models
from azure.containerregistry._generated._serialization import Deserializer
from azure.containerregistry._generated.models import _models as all_models
from azure.containerregistry._helpers import _parse_next_link
from starlette.testclient import TestClient

from tests.api.acr_client import lock
from tests.registry_client import OCI_INDEX, OCI_MANIFEST, descriptor, error_code, push_image

REPO = "team/sdk"
# The generated client's own deserializer, built from the same model tables (_client.py).
_MODELS = {k: v for k, v in vars(all_models).items() if isinstance(v, type)}
_MODELS.update({k: v for k, v in vars(public_models).items() if isinstance(v, type)})
_DESERIALIZE = Deserializer(_MODELS)


def parse(model: str, body: Any) -> Any:
    """`body` as the SDK deserializes a response into `model`."""
    return _DESERIALIZE(model, body)


def recent(value: datetime | None) -> bool:
    """A timezone-aware time within the last minute."""
    assert value is not None and value.tzinfo is not None
    return abs(datetime.now(UTC) - value) < timedelta(minutes=1)


def get(client: TestClient, path: str) -> Any:
    """GET `/acr/v1/<path>`, expecting 200."""
    response = client.get(f"/acr/v1/{path}")
    assert response.status_code == 200, response.text
    return response


def test_repository_properties_deserialize(client: TestClient) -> None:
    push_image(client, REPO, "v1")
    lock(client, REPO, deleteEnabled=False)
    model = parse("ContainerRepositoryProperties", get(client, REPO).json())
    properties = RepositoryProperties._from_generated(model)
    assert properties.name == REPO
    assert (properties.manifest_count, properties.tag_count) == (1, 1)
    assert recent(properties.created_on) and recent(properties.last_updated_on)
    assert properties.can_delete is False
    assert (properties.can_write, properties.can_read, properties.can_list) == (True,) * 3
    assert model.registry_login_server == "localhost"
    patched = client.patch(f"/acr/v1/{REPO}", json={"deleteEnabled": True})
    model = parse("ContainerRepositoryProperties", patched.json())
    assert model.changeable_attributes.can_delete is True


def test_tags_deserialize(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "a")
    client.put(f"/v2/{REPO}/manifests/b", content=body, headers={"Content-Type": OCI_MANIFEST})
    lock(client, f"{REPO}/_tags/b", writeEnabled=False)
    response = get(client, f"{REPO}/_tags?n=1")
    page = parse("TagList", response.json())
    assert page.repository == REPO and page.registry_login_server == "localhost"
    (first,) = page.tag_attribute_bases
    tag = ArtifactTagProperties._from_generated(first, repository_name=REPO)
    assert (tag.name, tag.digest) == ("a", digest)
    assert recent(tag.created_on) and recent(tag.last_updated_on)
    assert tag.can_write is True
    next_link = _parse_next_link(response.headers["Link"])
    assert next_link == f"/acr/v1/{REPO}/_tags?last=a&n=1"
    second = parse("TagList", client.get(next_link).json())
    assert second.tag_attribute_bases[0].changeable_attributes.can_write is False
    one = parse("ArtifactTagProperties", get(client, f"{REPO}/_tags/b").json())
    assert one.repository_name == REPO and one.tag.name == "b" and one.tag.digest == digest


def test_manifests_deserialize(client: TestClient) -> None:
    digest, body = push_image(client, REPO, "v1", layers=[b"twelve bytes"])
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor(OCI_MANIFEST, body, platform={"architecture": "arm64",
                                                                  "os": "linux"})],
        }
    )  # fmt: skip
    client.put(f"/v2/{REPO}/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX})
    page = parse("AcrManifests", get(client, f"{REPO}/_manifests").json())
    assert page.repository == REPO
    by_digest = {m.digest: m for m in page.manifests}
    image = ArtifactManifestProperties._from_generated(
        by_digest[digest], repository_name=REPO, registry="https://localhost"
    )
    config_size = json.loads(body)["config"]["size"]
    assert image.size_in_bytes == len(body) + config_size + len(b"twelve bytes")
    assert image.architecture == "amd64" and image.operating_system == "linux"
    assert image.tags == ["v1"]
    assert recent(image.created_on) and recent(image.last_updated_on)
    assert (image.can_delete, image.can_write, image.can_read, image.can_list) == (True,) * 4
    (indexed,) = [m for m in page.manifests if m.digest != digest]
    (reference,) = indexed.related_artifacts
    assert (reference.digest, reference.architecture, reference.operating_system) == (
        digest,
        "arm64",
        "linux",
    )
    one = parse("ArtifactManifestProperties", get(client, f"{REPO}/_manifests/{digest}").json())
    assert one.repository_name == REPO and one.manifest.size == image.size_in_bytes


def test_catalog_and_deletion_deserialize(client: TestClient) -> None:
    for repo in ("a/sdk", "b/sdk"):
        push_image(client, repo, "v1")
    response = get(client, "_catalog?n=1")
    assert parse("Repositories", response.json()).repositories == ["a/sdk"]
    assert _parse_next_link(response.headers["Link"]) == "/acr/v1/_catalog?n=1&last=a%2Fsdk"
    deleted = client.delete("/acr/v1/a/sdk")
    result = parse("DeleteRepositoryResult", deleted.json())
    assert result.deleted_tags == ["v1"] and len(result.deleted_manifests or []) == 1


def test_errors_deserialize(client: TestClient) -> None:
    push_image(client, REPO, "v1")
    for path, code in (("no/such", "NAME_UNKNOWN"), (f"{REPO}/_tags/nope", "TAG_UNKNOWN")):
        response = client.get(f"/acr/v1/{path}")
        assert response.status_code == 404 and error_code(response) == code
        errors = parse("AcrErrors", response.json())
        assert errors.errors[0].code == code and errors.errors[0].message
