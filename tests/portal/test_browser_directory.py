"""Directory sign-in in a real browser: Debian's chromium (Playwright) against `portside serve`
and the fake OIDC provider on its own loopback port, whose authorization page approves at once
by redirecting back. Also the trusted issuers page, with axe-core and screenshots
(docs/images/portal-directory-signin.png, portal-issuers.png with PORTSIDE_SCREENSHOTS=1)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli_server import ADMIN_PASSWORD, CliServer
from tests.oidc_provider import OidcProvider
from tests.portal.test_browser import (
    _accessible,
    _page,
    _shots,
    _sign_in,
    _wait_for_login_server,
)
from tests.registry_client import push_image

from playwright.sync_api import Browser  # isort: skip (test_browser checks it is installed)

pytestmark = pytest.mark.e2e


_ONLY = "app/web"


def test_a_directory_user_signs_in_through_the_issuer_and_sees_its_repository_only(
    server: CliServer, browser: Browser, tmp_path: Path
) -> None:
    base, shots = server.registry.url, _shots(tmp_path)
    admin = ("admin", ADMIN_PASSWORD)
    api = f"{base}/api/v1"
    httpx.post(f"{api}/registries", json={"name": "hidden"}, auth=admin).raise_for_status()
    body = {"name": "corpreg", "adminUserEnabled": True}
    created = httpx.post(f"{api}/registries", json=body, auth=admin)
    created.raise_for_status()
    password = created.json()["passwords"][0]["value"]
    login_server = created.json()["loginServer"]
    _wait_for_login_server(login_server)
    with httpx.Client(base_url=f"http://{login_server}", auth=("corpreg", password)) as client:
        for repository in ("app/web", "app/api"):
            push_image(client, repository, "v1")  # type: ignore[arg-type]
    with OidcProvider() as provider:
        issuer = {
            "name": "corp",
            "issuer": provider.issuer,
            "audience": "api://portside",
            "jwksUrl": f"{provider.issuer}/jwks",
            "portalClientId": provider.client_id,
        }
        httpx.post(f"{api}/trusted-issuers", json=issuer, auth=admin).raise_for_status()
        role = {
            "role": "AcrPull",
            "assignee": "readers",
            "assigneeType": "group",
            "issuer": provider.issuer,
            "repositories": _ONLY,
        }
        answer = httpx.post(f"{api}/registries/corpreg/role-assignments", json=role, auth=admin)
        answer.raise_for_status()

        page = _page(browser)
        page.goto(f"{base}/portal/signin")
        link = page.get_by_role("link", name="Sign in with corp")
        assert link.is_visible()
        _accessible(page)
        page.screenshot(path=str(shots / "portal-directory-signin.png"), full_page=True)
        link.click()
        page.wait_for_url(f"{base}/portal/registries", timeout=15000)
        assert "alice (directory)" in page.content()
        assert page.get_by_role("link", name="corpreg").is_visible()
        assert page.get_by_role("link", name="hidden").count() == 0
        _accessible(page)
        page.goto(f"{base}/portal/registries/corpreg/repositories?prefix=app/")
        text = page.content()
        assert "app/web" in text and "app/api" not in text
        # The code went to the token endpoint with the PKCE verifier, the exact redirect URI.
        sent = provider.token_requests[-1]
        assert sent["redirect_uri"] == f"{base}/portal/signin/oidc/callback"
        assert sent["code_verifier"]

        # Removing the issuer ends the session: the next page is the sign-in page.
        httpx.delete(f"{api}/trusted-issuers/corp", auth=admin).raise_for_status()
        page.reload()
        assert "/portal/signin" in page.url
        assert page.get_by_role("heading", name="Sign in to Portside").is_visible()


def test_the_administrator_manages_trusted_issuers(
    server: CliServer, browser: Browser, tmp_path: Path
) -> None:
    base, shots = server.registry.url, _shots(tmp_path)
    page = _page(browser)
    _sign_in(page, base, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="Trusted issuers").click()
    assert page.get_by_role("heading", name="Trusted issuers").is_visible()
    with OidcProvider() as provider:
        page.get_by_label("Name (lowercase").fill("entra")
        page.get_by_label("Issuer (").fill("https://login.example.com/tenant-7/v2.0")
        page.get_by_label("Audience (").fill("api://portside")
        page.get_by_label("or the JWKS document").fill(json.dumps(provider.jwks()))
        page.get_by_label("Portal client id (optional").fill("portside-portal")
        page.get_by_label("Portal client secret (optional").fill("browser-client-secret")
        page.get_by_role("button", name="Trust issuer").click()
    assert "https://login.example.com/tenant-7/v2.0" in page.content()
    assert "secret set" in page.content() and "browser-client-secret" not in page.content()
    _accessible(page)
    page.screenshot(path=str(shots / "portal-issuers.png"), full_page=True)
    page.get_by_role("button", name="Remove issuer entra").click()
    assert "https://login.example.com/tenant-7/v2.0" not in page.content()
