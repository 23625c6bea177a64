"""Two `portside serve` nodes on one database: what node A tags is listed by node B.

Each node keeps tag-list and catalog pages in memory while the database's change mark holds
(metadata/listing_pages.py). Node B's pages are warmed up, node A pushes, moves and deletes
tags, and B lists the change at its next request on SQLite, within the notice bound on
PostgreSQL (tests/api/test_access_two_nodes.py starts the nodes and explains the bounds).
"""

from __future__ import annotations

import httpx

from tests.api import test_access_two_nodes as two

MANIFEST_TYPE = two.MANIFEST_TYPE
nodes = two.nodes  # the same fixture: nodes A and B over one SQLite file or one PostgreSQL


def _tags(client: httpx.Client, auth: tuple[str, str], query: str = "") -> object:
    answer = client.get(f"/v2/app/tags/list{query}", auth=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["tags"], answer.headers.get("Link")


def _catalog(client: httpx.Client, auth: tuple[str, str]) -> object:
    answer = client.get("/v2/_catalog", auth=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()["repositories"]


def test_tags_pushed_and_deleted_on_a_are_listed_on_b(nodes: tuple[two.Node, two.Node]) -> None:
    a, b = nodes
    two._registry(a, "lists")
    user = two._admin_user(a, "lists")
    with a.client("lists") as on_a, b.client("lists") as on_b:
        digest = two._push_image(on_a, "app", user)  # tagged v1
        manifest = on_a.get(
            f"/v2/app/manifests/{digest}", auth=user, headers={"Accept": MANIFEST_TYPE}
        ).content
        for _ in range(3):  # B now keeps the pages
            assert _tags(on_b, user) == (["v1"], None)
            assert _tags(on_b, user, "?n=1") == (["v1"], None)
            assert _catalog(on_b, user) == ["app"]
        put = on_a.put(
            "/v2/app/manifests/v2",
            content=manifest,
            headers={"Content-Type": MANIFEST_TYPE},
            auth=user,
        )
        assert put.status_code == 201, put.text
        two._seen(b, lambda: _tags(on_b, user), (["v1", "v2"], None), "tag pushed on A")
        next_page = '</v2/app/tags/list?n=1&last=v1>; rel="next"'
        two._seen(b, lambda: _tags(on_b, user, "?n=1"), (["v1"], next_page), "Link on B")
        assert on_a.delete("/v2/app/manifests/v1", auth=user).status_code == 202
        two._seen(b, lambda: _tags(on_b, user), (["v2"], None), "tag deleted on A")
        two._seen(b, lambda: _tags(on_b, user, "?n=1"), (["v2"], None), "page of one on B")
        two._push_image(on_a, "other", user, config=b'{"other":1}')
        two._seen(b, lambda: _catalog(on_b, user), ["app", "other"], "repository pushed on A")
