"""ACR's metadata API over HTTP: catalog, repository, tag and manifest attributes, paging with
Link in every order, PATCH of changeable attributes, deletion, and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from portside.metadata.schema import manifests, tags
from tests.api.acr_client import ACR_TIME, LINK, execute, follow, lock
from tests.registry_client import (
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    error_code,
    push_image,
)

REPO = "team/acr"
FLAGS_ON = {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True, "listEnabled": True}
BASE = datetime(2024, 5, 4, 17, 44, 15, 123456, tzinfo=UTC)


def tag_all(client: TestClient, names: list[str]) -> str:
    """One image tagged with every name; its digest."""
    digest, body = push_image(client, REPO, names[0])
    for name in names[1:]:
        response = client.put(
            f"/v2/{REPO}/manifests/{name}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert response.status_code == 201
    return digest


def set_tag_times(client: TestClient, times: dict[str, datetime]) -> None:
    """Give tags chosen last-update times (ties included) to test the time orders."""
    for name, when in times.items():
        execute(client, update(tags).where(tags.c.name == name).values(updated_at=when))


def names(pages: list[list[dict[str, object]]], key: str = "name") -> list[object]:
    """Every item's `key`, across pages."""
    return [item[key] for page in pages for item in page]


# --- catalog -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/acr/v1/_catalog", "/v2/_catalog"])
def test_catalog_pages_with_link(client: TestClient, path: str) -> None:
    for repo in ["c/one", "a/one", "b/one", "d/one"]:
        push_image(client, repo, "v1")
    pages, links = follow(client, f"{path}?n=3", "repositories")
    assert pages == [["a/one", "b/one", "c/one"], ["d/one"]]
    assert links == [f"{path}?n=3&last=c%2Fone"]
    assert client.get(path).json() == {"repositories": ["a/one", "b/one", "c/one", "d/one"]}


# --- repository ----------------------------------------------------------------------------


def test_repository_properties(client: TestClient) -> None:
    tag_all(client, ["v1", "v2"])
    push_image(client, REPO, "v3")
    response = client.get(f"/acr/v1/{REPO}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "registry",
        "imageName",
        "createdTime",
        "lastUpdateTime",
        "manifestCount",
        "tagCount",
        "changeableAttributes",
        "storageBytes",
    }
    assert body["storageBytes"] > 0  # exact figures: tests/api/test_quotas.py
    assert body["registry"] == "localhost"
    assert body["imageName"] == REPO
    assert (body["manifestCount"], body["tagCount"]) == (2, 3)
    assert body["changeableAttributes"] == FLAGS_ON
    assert ACR_TIME.match(body["createdTime"]) and ACR_TIME.match(body["lastUpdateTime"])
    assert body["lastUpdateTime"] >= body["createdTime"]


def test_patch_repository_changes_only_the_given_attributes(client: TestClient) -> None:
    push_image(client, REPO, "v1")
    body = lock(client, REPO, writeEnabled=False)
    assert body["imageName"] == REPO and body["manifestCount"] == 1
    assert body["changeableAttributes"] == {**FLAGS_ON, "writeEnabled": False}
    body = lock(client, REPO, listEnabled=False, deleteEnabled=False)
    expected = {**FLAGS_ON, "writeEnabled": False, "listEnabled": False, "deleteEnabled": False}
    assert body["changeableAttributes"] == expected
    assert lock(client, REPO)["changeableAttributes"] == expected  # {} changes nothing
    empty = client.patch(f"/acr/v1/{REPO}", content=b"")
    assert empty.status_code == 200
    assert empty.json()["changeableAttributes"] == expected
    assert client.get(f"/acr/v1/{REPO}").json()["changeableAttributes"] == expected


def test_delete_repository(client: TestClient) -> None:
    first = tag_all(client, ["v1", "latest"])
    second, _ = push_image(client, REPO, "v2")
    push_image(client, "team/other", "v1")
    response = client.delete(f"/acr/v1/{REPO}")
    assert response.status_code == 202
    assert response.json() == {
        "manifestsDeleted": sorted([first, second]),
        "tagsDeleted": ["latest", "v1", "v2"],
    }
    for path in [f"/acr/v1/{REPO}", f"/v2/{REPO}/tags/list", f"/v2/{REPO}/manifests/v1"]:
        gone = client.get(path)
        assert gone.status_code == 404
        assert error_code(gone) == "NAME_UNKNOWN"
    assert client.get("/acr/v1/_catalog").json() == {"repositories": ["team/other"]}
    assert client.delete(f"/acr/v1/{REPO}").status_code == 404
    assert client.get("/v2/team/other/manifests/v1").status_code == 200


def test_repository_created_again_lists_its_own_tags(client: TestClient) -> None:
    push_image(client, REPO, "old")
    assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["old"]  # now cached
    assert client.delete(f"/acr/v1/{REPO}").status_code == 202
    push_image(client, REPO, "new")
    assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["new"]


def test_unknown_and_invalid_repository(client: TestClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, "/acr/v1/no/such")
        assert response.status_code == 404, method
        assert error_code(response) == "NAME_UNKNOWN"
    for path in ("_tags", "_tags/v1", "_manifests", f"_manifests/{digest_of(b'x')}"):
        response = client.get(f"/acr/v1/no/such/{path}")
        assert response.status_code == 404, path
        assert error_code(response) == "NAME_UNKNOWN"
    invalid = client.get("/acr/v1/Upper/Case")
    assert invalid.status_code == 400
    assert error_code(invalid) == "NAME_INVALID"


# --- tags ------------------------------------------------------------------------------------


def test_tag_list_by_name_pages_with_link(client: TestClient) -> None:
    digest = tag_all(client, ["b", "e", "a", "d", "c"])
    pages, links = follow(client, f"/acr/v1/{REPO}/_tags?n=2", "tags")
    assert [[t["name"] for t in page] for page in pages] == [["a", "b"], ["c", "d"], ["e"]]
    assert links == [f"/acr/v1/{REPO}/_tags?last=b&n=2", f"/acr/v1/{REPO}/_tags?last=d&n=2"]
    first = pages[0][0]
    assert set(first) == {
        "name",
        "digest",
        "createdTime",
        "lastUpdateTime",
        "signed",
        "changeableAttributes",
    }
    assert first["digest"] == digest and first["signed"] is False
    assert first["changeableAttributes"] == FLAGS_ON
    body = client.get(f"/acr/v1/{REPO}/_tags").json()
    assert body["registry"] == "localhost" and body["imageName"] == REPO
    assert [t["name"] for t in body["tags"]] == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("order", ["timeasc", "timedesc"])
def test_tag_list_in_time_order_is_stable_across_pages(client: TestClient, order: str) -> None:
    tag_all(client, ["a", "b", "c", "d", "e", "f"])
    # Ties on purpose: b, d and f share a time, as do a and e.
    times = {"c": BASE, "b": BASE + timedelta(seconds=1), "d": BASE + timedelta(seconds=1)}
    times |= {"f": BASE + timedelta(seconds=1), "a": BASE + timedelta(seconds=2)}
    times |= {"e": BASE + timedelta(seconds=2)}
    set_tag_times(client, times)
    expected = ["c", "b", "d", "f", "a", "e"]
    if order == "timedesc":
        expected.reverse()
    for n in (1, 2, 4, 6):
        pages, links = follow(client, f"/acr/v1/{REPO}/_tags?n={n}&orderby={order}", "tags")
        assert names(pages) == expected, n
        assert all(f"orderby={order}" in link for link in links)
        assert all(len(page) <= n for page in pages)
    got = client.get(f"/acr/v1/{REPO}/_tags", params={"orderby": order.upper()}).json()
    assert [t["name"] for t in got["tags"]] == expected
    listed = {t["name"]: t["lastUpdateTime"] for t in got["tags"]}
    assert listed["c"] == "2024-05-04T17:44:15.1234560Z"


def test_tag_list_digest_filter(client: TestClient) -> None:
    first = tag_all(client, ["a", "c", "e"])
    second, _ = push_image(client, REPO, "b")
    got = client.get(f"/acr/v1/{REPO}/_tags", params={"digest": first}).json()["tags"]
    assert [t["name"] for t in got] == ["a", "c", "e"]
    pages, links = follow(client, f"/acr/v1/{REPO}/_tags?n=1&digest={second}", "tags")
    assert names(pages) == ["b"] and links == []
    pages, links = follow(client, f"/acr/v1/{REPO}/_tags?n=2&digest={first}", "tags")
    assert names(pages) == ["a", "c", "e"]
    assert all("digest=sha256" in link for link in links)
    none = client.get(f"/acr/v1/{REPO}/_tags", params={"digest": digest_of(b"nothing")})
    assert none.status_code == 200 and none.json()["tags"] == []


def test_get_patch_delete_tag(client: TestClient) -> None:
    digest = tag_all(client, ["v1", "v2"])
    response = client.get(f"/acr/v1/{REPO}/_tags/v1")
    assert response.status_code == 200
    body = response.json()
    assert body["registry"] == "localhost" and body["imageName"] == REPO
    assert body["tag"]["name"] == "v1" and body["tag"]["digest"] == digest
    assert ACR_TIME.match(body["tag"]["createdTime"])
    patched = lock(client, f"{REPO}/_tags/v1", deleteEnabled=False, readEnabled=False)
    expected = {**FLAGS_ON, "deleteEnabled": False, "readEnabled": False}
    assert patched["tag"]["changeableAttributes"] == expected
    patched = lock(client, f"{REPO}/_tags/v1", readEnabled=True)
    assert patched["tag"]["changeableAttributes"] == {**FLAGS_ON, "deleteEnabled": False}
    assert client.get(f"/acr/v1/{REPO}/_tags/v2").json()["tag"]["changeableAttributes"] == FLAGS_ON
    deleted = client.delete(f"/acr/v1/{REPO}/_tags/v2")
    assert deleted.status_code == 202
    assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["v1"]
    assert client.get(f"/v2/{REPO}/manifests/{digest}").status_code == 200


def test_unknown_and_invalid_tag(client: TestClient) -> None:
    push_image(client, REPO, "v1")
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, f"/acr/v1/{REPO}/_tags/nope")
        assert response.status_code == 404, method
        assert error_code(response) == "TAG_UNKNOWN"
    invalid = client.get(f"/acr/v1/{REPO}/_tags/-bad")
    assert invalid.status_code == 400
    assert error_code(invalid) == "TAG_INVALID"


# --- manifests -------------------------------------------------------------------------------


def push_index(client: TestClient) -> tuple[str, list[str]]:
    """Two platform images and an index of them tagged `multi`; (index digest, children)."""
    children = []
    for arch in ("amd64", "arm64"):
        _, body = push_image(client, REPO, f"img-{arch}", layers=[arch.encode()])
        platform = {"architecture": arch, "os": "linux"}
        children.append(descriptor(OCI_MANIFEST, body, platform=platform))
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    response = client.put(
        f"/v2/{REPO}/manifests/multi", content=index.encode(), headers={"Content-Type": OCI_INDEX}
    )
    assert response.status_code == 201
    return response.headers["Docker-Content-Digest"], [c["digest"] for c in children]


def test_manifest_attributes_of_an_image(client: TestClient) -> None:
    layers = [b"first layer", b"second layer!"]
    digest, body = push_image(client, REPO, "v1", layers=layers)
    response = client.get(f"/acr/v1/{REPO}/_manifests/{digest}")
    assert response.status_code == 200
    got = response.json()
    assert got["registry"] == "localhost" and got["imageName"] == REPO
    manifest = got["manifest"]
    config = json.loads(body)["config"]
    assert manifest["digest"] == digest
    assert manifest["imageSize"] == len(body) + config["size"] + sum(map(len, layers))
    assert (manifest["architecture"], manifest["os"]) == ("amd64", "linux")
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["configMediaType"] == "application/vnd.oci.image.config.v1+json"
    assert manifest["tags"] == ["v1"]
    assert manifest["changeableAttributes"] == FLAGS_ON
    assert "references" not in manifest
    assert ACR_TIME.match(manifest["createdTime"]) and ACR_TIME.match(manifest["lastUpdateTime"])


def test_manifest_attributes_of_an_index(client: TestClient) -> None:
    index, children = push_index(client)
    manifest = client.get(f"/acr/v1/{REPO}/_manifests/{index}").json()["manifest"]
    assert manifest["mediaType"] == OCI_INDEX and manifest["tags"] == ["multi"]
    assert manifest["references"] == [
        {"digest": children[0], "architecture": "amd64", "os": "linux"},
        {"digest": children[1], "architecture": "arm64", "os": "linux"},
    ]
    assert "architecture" not in manifest and "configMediaType" not in manifest


def test_manifest_list_pages_in_every_order(client: TestClient) -> None:
    index, children = push_index(client)
    everything = sorted([index, *children])
    pages, links = follow(client, f"/acr/v1/{REPO}/_manifests?n=2", "manifests")
    assert names(pages, "digest") == everything
    assert links == [f"/acr/v1/{REPO}/_manifests?{urlencode({'last': everything[1], 'n': 2})}"]
    times = {children[1]: BASE, index: BASE, children[0]: BASE + timedelta(minutes=1)}
    for digest, when in times.items():
        execute(
            client, update(manifests).where(manifests.c.digest == digest).values(created_at=when)
        )
    ascending = [*sorted([children[1], index]), children[0]]
    for order, expected in (("timeasc", ascending), ("timedesc", ascending[::-1])):
        for n in (1, 2, 3):
            url = f"/acr/v1/{REPO}/_manifests?n={n}&orderby={order}"
            pages, _ = follow(client, url, "manifests")
            assert names(pages, "digest") == expected, (order, n)
    listed = client.get(f"/acr/v1/{REPO}/_manifests").json()
    assert listed["registry"] == "localhost" and listed["imageName"] == REPO
    by_digest = {m["digest"]: m for m in listed["manifests"]}
    assert by_digest[children[0]]["tags"] == ["img-amd64"]
    # An image's platform comes from its config (push_image writes amd64), an index's
    # references from the index itself.
    assert by_digest[children[1]]["architecture"] == "amd64"
    assert by_digest[index]["references"][1]["architecture"] == "arm64"


def test_patch_and_delete_manifest(client: TestClient) -> None:
    digest = tag_all(client, ["v1", "v2"])
    patched = lock(client, f"{REPO}/_manifests/{digest}", listEnabled=False)
    assert patched["manifest"]["changeableAttributes"] == {**FLAGS_ON, "listEnabled": False}
    assert patched["manifest"]["tags"] == ["v1", "v2"]
    lock(client, f"{REPO}/_manifests/{digest}", listEnabled=True)
    deleted = client.delete(f"/acr/v1/{REPO}/_manifests/{digest}")
    assert deleted.status_code == 202
    assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == []
    gone = client.get(f"/acr/v1/{REPO}/_manifests/{digest}")
    assert gone.status_code == 404
    assert error_code(gone) == "MANIFEST_UNKNOWN"


def test_unknown_and_invalid_manifest(client: TestClient) -> None:
    push_image(client, REPO, "v1")
    unknown = digest_of(b"never pushed")
    for method in ("GET", "PATCH", "DELETE"):
        response = client.request(method, f"/acr/v1/{REPO}/_manifests/{unknown}")
        assert response.status_code == 404, method
        assert error_code(response) == "MANIFEST_UNKNOWN"
    for reference in ("v1", "sha256:short"):
        response = client.get(f"/acr/v1/{REPO}/_manifests/{reference}")
        assert response.status_code == 400
        assert error_code(response) == "DIGEST_INVALID"


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[true]",
        b'"writeEnabled"',
        b'{"writeEnabled": "false"}',
        b'{"writeEnabled": null}',
        b'{"writeEnabled": 0}',
        b'{"teleportEnabled": false}',
        b'{"changeableAttributes": {"writeEnabled": false}}',
        b"\xff\xfe",
        b'{"deleteEnabled": false, "x": 1}',
    ],
)
def test_bad_patch_bodies_are_400_and_change_nothing(client: TestClient, body: bytes) -> None:
    digest, _ = push_image(client, REPO, "v1")
    for path in (REPO, f"{REPO}/_tags/v1", f"{REPO}/_manifests/{digest}"):
        response = client.patch(
            f"/acr/v1/{path}", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (path, response.text)
        assert error_code(response) == "UNSUPPORTED"
    assert client.get(f"/acr/v1/{REPO}").json()["changeableAttributes"] == FLAGS_ON
    assert client.get(f"/acr/v1/{REPO}/_tags/v1").json()["tag"]["changeableAttributes"] == FLAGS_ON


def test_oversized_patch_body_is_400(client: TestClient) -> None:
    push_image(client, REPO, "v1")
    response = client.patch(f"/acr/v1/{REPO}", content=b" " * (65 * 1024) + b"{}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("n=-1", "UNSUPPORTED"),
        ("n=abc", "UNSUPPORTED"),
        ("orderby=newest", "UNSUPPORTED"),
        ("orderby=timeasc&last=nope", "UNSUPPORTED"),
        ("digest=sha256:nothex", "DIGEST_INVALID"),
    ],
)
def test_bad_list_parameters_are_400(client: TestClient, query: str, code: str) -> None:
    push_image(client, REPO, "v1")
    paths = [f"/acr/v1/{REPO}/_tags"]
    if not query.startswith("digest"):
        paths.append(f"/acr/v1/{REPO}/_manifests")
    for path in paths:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.text)
        assert error_code(response) == code


def test_orderby_none_and_n_zero(client: TestClient) -> None:
    tag_all(client, ["b", "a"])
    got = client.get(f"/acr/v1/{REPO}/_tags?orderby=none").json()["tags"]
    assert [t["name"] for t in got] == ["a", "b"]
    empty = client.get(f"/acr/v1/{REPO}/_tags?n=0")
    assert empty.status_code == 200 and empty.json()["tags"] == []
    assert "link" not in empty.headers
    assert LINK.match(client.get(f"/acr/v1/{REPO}/_tags?n=1").headers["link"])
