"""The lifecycle routes of the management API over a whole server: policies, retention rules,
the recycle bin (soft delete through /v2 and /acr/v1, restore, byte-identical pulls), purge,
and index and referrer cascades through /v2 deletes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.migrate import upgrade
from tests.management_harness import basic
from tests.registry_client import OCI_INDEX, OCI_MANIFEST, descriptor, error_code, push_image

PASSWORD = "lifecycle-admin-password"
ADMIN = basic("admin", PASSWORD)
API = "/api/v1/registries/default"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TestClient]:
    """A whole Portside app, lifecycle service included, as the server wires it."""
    settings = Settings(data_dir=tmp_path / "data", admin_password=PASSWORD)
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def _policies(client: TestClient, **body: object) -> dict[str, object]:
    answer = client.put(f"{API}/policies", headers=ADMIN, json=body)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert isinstance(result, dict)
    return result


def test_policies_round_trip_and_ranges(server: TestClient) -> None:
    assert server.get(f"{API}/policies", headers=ADMIN).json() == {
        "retentionUntaggedDays": None,
        "softDeleteDays": None,
        "keepOrphanReferrers": False,
    }
    assert _policies(server, retentionUntaggedDays=0, softDeleteDays=90) == {
        "retentionUntaggedDays": 0,
        "softDeleteDays": 90,
        "keepOrphanReferrers": False,
    }
    for bad in (
        {"retentionUntaggedDays": 366},
        {"retentionUntaggedDays": -1},
        {"softDeleteDays": 0},
        {"softDeleteDays": 91},
        {"keepOrphans": True},
    ):
        refused = server.put(f"{API}/policies", headers=ADMIN, json=bad)
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "InvalidRequestContent"
    assert server.get(f"{API}/policies", headers=ADMIN).json()["softDeleteDays"] == 90
    assert server.get(f"{API}/policies").status_code == 401
    assert server.get("/api/v1/registries/nosuch/policies", headers=ADMIN).status_code == 404


def test_retention_rules_crud(server: TestClient) -> None:
    rules = f"{API}/retention-rules"
    created = server.post(
        rules, headers=ADMIN, json={"repositories": "team/*", "tagFilter": "^pr-", "keepLast": 5}
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["repositories"], rule["tagFilter"], rule["keepLast"]) == ("team/*", "^pr-", 5)
    again = server.post(
        rules, headers=ADMIN, json={"repositories": "team/*", "tagFilter": "^pr-", "keepLast": 2}
    )
    assert again.status_code == 409
    for bad in ({"keepLast": 0}, {"tagFilter": "(", "keepLast": 1}, {"repositories": "A!"}):
        assert server.post(rules, headers=ADMIN, json=bad).status_code == 400, bad
    assert [r["id"] for r in server.get(rules, headers=ADMIN).json()] == [rule["id"]]
    assert server.delete(f"{rules}/{rule['id']}", headers=ADMIN).status_code == 204
    assert server.delete(f"{rules}/{rule['id']}", headers=ADMIN).status_code == 404
    assert server.get(rules, headers=ADMIN).json() == []


def test_expressions_re2_does_not_support_are_400_with_a_reason(server: TestClient) -> None:
    """Rules and purge filters are RE2, as acr purge's Go expressions: no lookarounds."""
    rule = {"repositories": "*", "tagFilter": "^v(?!1)", "keepLast": 1}
    refused = server.post(f"{API}/retention-rules", headers=ADMIN, json=rule)
    assert refused.status_code == 400 and "lookaround" in refused.text, refused.text
    body = {"filters": ["app:(v)\\1"], "ago": "0"}
    refused = server.post(f"{API}/purge", headers=ADMIN, json=body)
    assert refused.status_code == 400 and "backreference" in refused.text, refused.text


def test_soft_delete_list_restore_and_pull_byte_identical(server: TestClient) -> None:
    _policies(server, softDeleteDays=7)
    layers = [b"layer one " * 100, b"layer two"]
    digest, body = push_image(server, "web/app", "v1", layers=layers)
    config_digest = json.loads(body)["config"]["digest"]
    assert server.delete(f"/v2/web/app/manifests/{digest}").status_code == 202
    assert server.get(f"/v2/web/app/manifests/{digest}").status_code == 404

    listed = server.get(
        f"{API}/deleted-manifests", headers=ADMIN, params={"repository": "web/app"}
    ).json()
    assert [(m["digest"], m["tags"], m["mediaType"]) for m in listed] == [
        (digest, ["v1"], OCI_MANIFEST)
    ]
    assert {"deletedAt", "expiresAt", "createdAt", "size"} <= set(listed[0])
    restored = server.post(
        f"{API}/deleted-manifests/restore",
        headers=ADMIN,
        json={"repository": "web/app", "digest": digest},
    )
    assert restored.status_code == 200, restored.text
    assert restored.json() == {
        "repository": "web/app",
        "digest": digest,
        "restoredManifests": [digest],
        "tags": ["v1"],
        "conflicts": [],
    }
    pulled = server.get("/v2/web/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert pulled.status_code == 200 and pulled.content == body
    for blob, content in (
        (config_digest, None),
        *zip([d["digest"] for d in json.loads(body)["layers"]], layers, strict=True),
    ):
        got = server.get(f"/v2/web/app/blobs/{blob}")
        assert got.status_code == 200
        if content is not None:
            assert got.content == content
    assert (
        server.get(
            f"{API}/deleted-manifests", headers=ADMIN, params={"repository": "web/app"}
        ).json()
        == []
    )


def test_a_deleted_repository_is_listed_and_restored_with_a_taken_tag(
    server: TestClient,
) -> None:
    _policies(server, softDeleteDays=1)
    first, _ = push_image(server, "gone", "v1")
    second, _ = push_image(server, "gone", "v2")
    assert server.delete("/acr/v1/gone").status_code == 202
    listed = server.get(f"{API}/deleted-repositories", headers=ADMIN).json()
    assert [(r["name"], r["deletedManifests"], r["live"]) for r in listed] == [("gone", 2, False)]

    # The name comes back, and another image takes v1.
    third, _ = push_image(server, "gone", "v1", layers=[b"another layer"])
    assert server.get(f"{API}/deleted-repositories", headers=ADMIN).json() == []
    everything = server.get(f"{API}/deleted-repositories", headers=ADMIN, params={"all": "true"})
    assert [r["live"] for r in everything.json()] == [True]
    answer = server.post(
        f"{API}/deleted-manifests/restore",
        headers=ADMIN,
        json={"repository": "gone", "digest": first},
    ).json()
    assert answer["tags"] == [] and answer["conflicts"] == [
        {"tag": "v1", "digest": first, "takenBy": third}
    ]
    pulled = server.get(f"/v2/gone/manifests/{first}")
    assert pulled.status_code == 200
    missing = server.post(
        f"{API}/deleted-manifests/restore",
        headers=ADMIN,
        json={"repository": "gone", "digest": "sha256:" + "0" * 64},
    )
    assert missing.status_code == 404
    bad = server.post(
        f"{API}/deleted-manifests/restore",
        headers=ADMIN,
        json={"repository": "gone", "digest": second, "tags": ["not a tag"]},
    )
    assert bad.status_code == 400


def test_deleting_an_index_through_v2_takes_its_children_and_referrers(
    server: TestClient,
) -> None:
    child, child_body = push_image(server, "multi", "amd64")
    shared, _ = push_image(server, "multi", "arm64")
    for tag in ("amd64", "arm64"):
        assert server.delete(f"/v2/multi/manifests/{tag}").status_code == 202
    children = [descriptor(OCI_MANIFEST, child_body)]
    children.append({"mediaType": OCI_MANIFEST, "digest": shared, "size": 1})
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    put = server.put(
        "/v2/multi/manifests/latest", content=index.encode(), headers={"Content-Type": OCI_INDEX}
    )
    assert put.status_code == 201, put.text
    index_digest = put.headers["Docker-Content-Digest"]
    other = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children[1:]}
    ).encode()
    assert (
        server.put(
            "/v2/multi/manifests/other", content=other, headers={"Content-Type": OCI_INDEX}
        ).status_code
        == 201
    )
    signature, _ = push_image(
        server,
        "multi",
        "sig",
        subject={"mediaType": OCI_INDEX, "digest": index_digest, "size": len(index)},
    )
    assert server.delete("/v2/multi/manifests/sig").status_code == 202  # untag the signature

    assert server.delete(f"/v2/multi/manifests/{index_digest}").status_code == 202
    assert server.get(f"/v2/multi/manifests/{child}").status_code == 404
    assert server.get(f"/v2/multi/manifests/{signature}").status_code == 404
    assert server.get(f"/v2/multi/manifests/{shared}").status_code == 200  # `other` keeps it

    # With a locked child, a user delete is refused as a whole.
    locked = server.patch(f"/acr/v1/multi/_manifests/{shared}", json={"deleteEnabled": False})
    assert locked.status_code == 200
    assert server.delete("/v2/multi/manifests/other").status_code == 202  # only the tag
    listed = server.get("/acr/v1/multi/_manifests").json()["manifests"]
    other_index = next(m["digest"] for m in listed if m["digest"] != shared)
    refused = server.delete(f"/v2/multi/manifests/{other_index}")
    # A lock's refusal of a delete is ACR's 405, which its clients do not retry (a 403 they do).
    assert refused.status_code == 405 and error_code(refused) == "REGISTRY_DISALLOWED_OPERATION"
    assert shared in refused.json()["errors"][0]["message"]


def test_purge_over_http(server: TestClient) -> None:
    push_image(server, "app", "v1")
    push_image(server, "app", "v2")
    purge = f"{API}/purge"
    dry = server.post(
        purge, headers=ADMIN, json={"filters": ["app:.*"], "ago": "0", "dryRun": True}
    )
    assert dry.status_code == 200, dry.text
    assert [(i["kind"], i["tags"], i["status"]) for i in dry.json()] == [
        ("tag", ["v1"], "wouldDelete"),
        ("tag", ["v2"], "wouldDelete"),
    ]
    assert server.get("/v2/app/tags/list").json()["tags"] == ["v1", "v2"]
    server.patch("/acr/v1/app/_tags/v2", json={"writeEnabled": False})
    done = server.post(
        purge, headers=ADMIN, json={"filters": ["app:.*"], "ago": "0", "untagged": True}
    ).json()
    assert [(i["kind"], i["status"], i.get("lock")) for i in done] == [
        ("tag", "skipped", "tag v2 is write-disabled"),
        ("tag", "deleted", None),
        ("manifest", "deleted", None),
    ]
    assert server.get("/v2/app/tags/list").json()["tags"] == ["v2"]
    for body in (
        {"filters": ["app:.*"], "ago": "2 days"},
        {"filters": ["app"], "ago": "1d"},
        {"filters": [], "ago": "1d"},
        {"filters": ["app:.*"]},
        {"filters": ["app:.*"], "ago": "1d", "keep": -1},
    ):
        refused = server.post(purge, headers=ADMIN, json=body)
        assert refused.status_code == 400, body
