"""A browser-like client of the portal in this process: signs in through the form, posts
forms with their CSRF token, and sets up registries and identities through the management API."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.testclient import TestClient

__all__ = ["ADMIN_PASSWORD", "PortalClient", "basic", "csrf_of"]

ADMIN_PASSWORD = "portal-admin-password-1"
"""The deployment administrator's configured password in these tests."""

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def basic(username: str, password: str) -> dict[str, str]:
    """An Authorization header with Basic credentials (for the management API)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, html[:2000]
    return found.group(1)


@dataclass
class PortalClient:
    """One browser: its own cookies over a shared app."""

    client: TestClient

    def sign_in(self, username: str, password: str) -> httpx.Response:
        """Fill and post the sign-in form; the answer (a redirect when it worked)."""
        page = self.client.get("/portal/signin")
        form = {"csrf": csrf_of(page.text), "username": username, "password": password}
        return self.client.post("/portal/signin", data=form, follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a portal page."""
        return self.client.get(f"/portal{path}", follow_redirects=False, **kwargs)

    def post(
        self, path: str, data: dict[str, str], *, from_page: str = "/registries"
    ) -> httpx.Response:
        """Post a form with the CSRF token of `from_page` (as a browser would)."""
        token = csrf_of(self.get(from_page).text)
        return self.client.post(
            f"/portal{path}", data={"csrf": token, **data}, follow_redirects=False
        )
