"""Tag lists and the catalog: lexical order, `n`/`last` paging through Link headers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from tests.registry_client import OCI_MANIFEST, error_code, push_blob, push_image

REPO = "team/listings"
LINK = re.compile(r'^<([^>]+)>; rel="next"$')


@pytest.fixture
def lenient(settings: Settings) -> Iterator[TestClient]:
    """A client that turns server exceptions into the 500 responses a real client would see."""
    with TestClient(
        create_app(settings), raise_server_exceptions=False, base_url="http://localhost"
    ) as test_client:
        yield test_client


def tag_all(client: TestClient, tags: list[str]) -> None:
    """Push one image, then PUT its manifest under every tag."""
    _, body = push_image(client, REPO, "seed")
    for tag in tags:
        response = client.put(
            f"/v2/{REPO}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert response.status_code == 201, response.text
    assert client.delete(f"/v2/{REPO}/manifests/seed").status_code == 202


def follow(client: TestClient, url: str, key: str) -> list[list[str]]:
    """Every page from `url` on, following `Link: <...>; rel="next"` until it stops."""
    pages: list[list[str]] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        pages.append(response.json()[key])
        link = response.headers.get("Link")
        if link is None:
            next_url = None
        else:
            match = LINK.match(link)
            assert match is not None, link
            next_url = match[1]
        assert len(pages) < 100, "paging does not end"
    return pages


def test_tags_are_listed_in_lexical_order(client: TestClient) -> None:
    tags = ["v2", "latest", "V10", "1.0", "v10", "_x", "a-b", "a.b", "a_b"]
    tag_all(client, tags)
    response = client.get(f"/v2/{REPO}/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": REPO, "tags": sorted(tags)}
    assert "Link" not in response.headers


def test_tag_pages_follow_link_to_every_tag_exactly_once(client: TestClient) -> None:
    tags = [f"t{i:02d}" for i in range(11)]
    tag_all(client, tags)
    pages = follow(client, f"/v2/{REPO}/tags/list?n=3", "tags")
    assert [len(page) for page in pages] == [3, 3, 3, 2]
    assert [tag for page in pages for tag in page] == tags


def test_first_page_link_carries_n_and_last(client: TestClient) -> None:
    tag_all(client, ["a", "b", "c"])
    response = client.get(f"/v2/{REPO}/tags/list", params={"n": 2})
    assert response.json()["tags"] == ["a", "b"]
    match = LINK.match(response.headers["Link"])
    assert match is not None
    assert match[1].startswith(f"/v2/{REPO}/tags/list?")
    assert "n=2" in match[1]
    assert "last=b" in match[1]


def test_exactly_full_last_page_has_no_link(client: TestClient) -> None:
    tag_all(client, ["a", "b", "c", "d"])
    pages = follow(client, f"/v2/{REPO}/tags/list?n=2", "tags")
    assert pages == [["a", "b"], ["c", "d"]]


def test_last_alone_continues_after_that_tag(client: TestClient) -> None:
    tag_all(client, ["a", "b", "c", "d"])
    response = client.get(f"/v2/{REPO}/tags/list", params={"last": "b"})
    assert response.json()["tags"] == ["c", "d"]
    response = client.get(f"/v2/{REPO}/tags/list", params={"last": "bb", "n": 1})
    assert response.json()["tags"] == ["c"]


def test_n_zero_is_an_empty_page(client: TestClient) -> None:
    tag_all(client, ["a", "b"])
    response = client.get(f"/v2/{REPO}/tags/list", params={"n": 0})
    assert response.status_code == 200
    assert response.json() == {"name": REPO, "tags": []}
    assert "Link" not in response.headers


def test_repository_without_tags_lists_none(client: TestClient) -> None:
    push_blob(client, REPO, b"only a blob")
    response = client.get(f"/v2/{REPO}/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": REPO, "tags": []}


def test_tags_of_unknown_repository_is_name_unknown(client: TestClient) -> None:
    response = client.get("/v2/team/nowhere/tags/list")
    assert response.status_code == 404
    assert error_code(response) == "NAME_UNKNOWN"


def test_catalog_pages_through_every_repository(client: TestClient) -> None:
    names = [f"org/repo-{i:02d}" for i in range(25)]
    for name in reversed(names):
        push_image(client, name, "v1")
    pages = follow(client, "/v2/_catalog?n=10", "repositories")
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [name for page in pages for name in page] == names


def test_catalog_without_n_lists_everything_in_order(client: TestClient) -> None:
    names = ["b/x", "a", "a/b", "a-b", "c"]
    for name in names:
        push_image(client, name, "v1")
    response = client.get("/v2/_catalog")
    assert response.status_code == 200
    assert response.json() == {"repositories": sorted(names)}


@pytest.mark.parametrize("path", ["/v2/_catalog", f"/v2/{REPO}/tags/list"])
@pytest.mark.parametrize("n", ["abc", "-1", "1.5", "0x10", " 1"])
def test_invalid_n_is_a_400_oci_error(client: TestClient, path: str, n: str) -> None:
    tag_all(client, ["a"])
    response = client.get(path, params={"n": n})
    assert response.status_code == 400, response.text
    assert error_code(response) == "UNSUPPORTED"


@pytest.mark.parametrize("n", ["\u00b2", "1" * 5000], ids=["superscript-two", "5000-digits"])
def test_digit_like_or_huge_n_is_a_400_not_500(lenient: TestClient, n: str) -> None:
    tag_all(lenient, ["a"])
    for path in ("/v2/_catalog", f"/v2/{REPO}/tags/list"):
        response = lenient.get(path, params={"n": n})
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["errors"][0]["code"]


def _catalogs(client: TestClient) -> tuple[list[str], list[str]]:
    """The repositories /v2/_catalog and ACR's /acr/v1/_catalog list."""
    v2 = client.get("/v2/_catalog")
    acr = client.get("/acr/v1/_catalog")
    assert v2.status_code == acr.status_code == 200, (v2.text, acr.text)
    return v2.json()["repositories"], acr.json()["repositories"]


def test_a_cancelled_upload_leaves_no_repository_in_the_catalogs(client: TestClient) -> None:
    """POST then DELETE, no manifest: nothing to list (distribution and ACR list none)."""
    push_image(client, "team/kept", "v1")
    started = client.post("/v2/team/abandoned/blobs/uploads/")
    assert started.status_code == 202
    assert client.delete(started.headers["Location"]).status_code == 204
    push_blob(client, "team/blob-only", b"a layer whose manifest never came")
    assert _catalogs(client) == (["team/kept"], ["team/kept"])


def test_a_repository_leaves_the_catalogs_with_its_last_manifest_and_comes_back(
    client: TestClient,
) -> None:
    digest, _ = push_image(client, REPO, "v1")
    assert _catalogs(client) == ([REPO], [REPO])
    assert client.delete(f"/v2/{REPO}/manifests/{digest}").status_code == 202
    assert _catalogs(client) == ([], [])
    push_image(client, REPO, "v2")
    assert _catalogs(client) == ([REPO], [REPO])


def _rendered(content: object) -> bytes:
    """A body as starlette's JSONResponse renders it (what every answer was before pages were
    kept with their encoding)."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("query", ["", "?n=2", "?n=02", "?n=2&last=a", "?last=b", "?n=0"])
def test_a_kept_page_answers_the_same_bytes_as_a_fresh_one(client: TestClient, query: str) -> None:
    tag_all(client, ["a", "b", "c", "d"])
    url = f"/v2/{REPO}/tags/list{query}"
    answers = [client.get(url) for _ in range(3)]  # read, then kept with its encoding
    n = int(query.partition("n=")[2].partition("&")[0] or 10_000)
    last = query.partition("last=")[2] or ""
    names = [tag for tag in ["a", "b", "c", "d"] if tag > last]
    more = len(names) > n
    for answer in answers:
        assert answer.status_code == 200
        assert answer.content == _rendered({"name": REPO, "tags": names[:n]})
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["Content-Length"] == str(len(answer.content))
        if more and n:
            link = f'</v2/{REPO}/tags/list?n={n}&last={names[n - 1]}>; rel="next"'
            assert answer.headers["Link"] == link
        else:
            assert "Link" not in answer.headers


def test_a_tag_pushed_after_a_page_was_kept_is_listed_at_once(client: TestClient) -> None:
    tag_all(client, ["a", "b"])
    for _ in range(2):
        assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["a", "b"]
        assert client.get(f"/v2/{REPO}/tags/list?n=1").headers["Link"]
    push_image(client, REPO, "seed")
    assert client.get(f"/v2/{REPO}/tags/list").json()["tags"] == ["a", "b", "seed"]
    assert client.delete(f"/v2/{REPO}/manifests/a").status_code == 202
    page = client.get(f"/v2/{REPO}/tags/list?n=2")
    assert page.json()["tags"] == ["b", "seed"] and "Link" not in page.headers


def test_catalog_answers_are_rendered_as_before(client: TestClient) -> None:
    for name in ["b", "a", "c"]:
        push_image(client, name, "v1")
    for _ in range(2):
        page = client.get("/v2/_catalog?n=2")
        assert page.content == _rendered({"repositories": ["a", "b"]})
        assert page.headers["Link"] == '</v2/_catalog?n=2&last=b>; rel="next"'
        acr = client.get("/acr/v1/_catalog?n=2")
        assert acr.content == page.content
        assert acr.headers["Link"] == '</acr/v1/_catalog?n=2&last=b>; rel="next"'
