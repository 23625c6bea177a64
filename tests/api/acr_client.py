"""Helpers for the /acr/v1 and lock tests: flag changes, raw SQL on the app's database, Links."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Executable
from starlette.testclient import TestClient

LINK = re.compile(r'^<([^>]+)>; rel="next"$')
ACR_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def lock(client: TestClient, path: str, **attributes: bool) -> dict[str, Any]:
    """PATCH changeable attributes (`writeEnabled=False`, ...) of `/acr/v1/<path>`."""
    response = client.patch(f"/acr/v1/{path}", json=attributes)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def execute(client: TestClient, statement: Executable) -> None:
    """Run one statement in a write transaction on the app's own database."""

    async def run() -> None:
        async with client.app.state.portside.database.write() as conn:  # type: ignore[attr-defined]
            await conn.execute(statement)

    assert client.portal is not None
    client.portal.call(run)


def follow(client: TestClient, url: str, key: str) -> tuple[list[list[Any]], list[str]]:
    """Every page from `url` on, following Link headers: (pages, the links followed)."""
    pages: list[list[Any]] = []
    links: list[str] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        pages.append(response.json()[key])
        link = response.headers.get("link")
        next_url = None
        if link is not None:
            match = LINK.match(link)
            assert match is not None, link
            next_url = match.group(1)
            links.append(next_url)
        assert len(pages) < 100, "paging does not end"
    return pages, links


def denied(response: Any, message: str, status: int = 403) -> None:
    """The response is a DENIED error whose message contains `message`."""
    assert response.status_code == status, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "DENIED"
    assert message in error["message"], error["message"]


def disallowed(response: Any, message: str) -> None:
    """The response is ACR's answer to a delete a lock refuses: 405, its "disallowed" code, and
    a message containing `message` (ACR's clients do not retry a 405, as they do a 403)."""
    assert response.status_code == 405, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "REGISTRY_DISALLOWED_OPERATION"
    assert message in error["message"], error["message"]
