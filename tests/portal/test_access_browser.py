"""The access pages in a real browser: the administrator creates a service principal (its
secret shown once), gives it AcrPull on one repository, and the principal, signed in from a
second browser, sees only that repository; anonymous pull switched on and off from the page
opens and closes the registry's login server to a client without credentials.

Uses test_browser.py's fixtures (Debian chromium, a `portside serve`); screenshots go to
docs/images/portal-principals.png, portal-access.png and portal-scope-map.png with
PORTSIDE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli_server import ADMIN_PASSWORD, CliServer
from tests.registry_client import push_image

if os.environ.get("CI", "").strip().lower() != "true":
    # Under CI a missing playwright fails the import (scripts/install.sh --test installs it).
    pytest.importorskip("playwright", reason="run scripts/install.sh --test for playwright")
from playwright.sync_api import Browser

from tests.portal import test_browser as shared

pytestmark = pytest.mark.e2e


def _registry_with_two_repositories(base: str) -> str:
    """Create registry `gallery` with `apps/web` and `apps/db` pushed; its login server."""
    admin = ("admin", ADMIN_PASSWORD)
    body = {"name": "gallery", "adminUserEnabled": True}
    created = httpx.post(f"{base}/api/v1/registries", json=body, auth=admin)
    created.raise_for_status()
    password = created.json()["passwords"][0]["value"]
    login_server = str(created.json()["loginServer"])
    shared._wait_for_login_server(login_server)
    with httpx.Client(base_url=f"http://{login_server}", auth=("gallery", password)) as client:
        for repository in ("apps/web", "apps/db"):
            push_image(client, repository, "v1")  # type: ignore[arg-type]
    return login_server


def test_a_principal_gets_one_repository_and_anonymous_pull_is_switched(
    server: CliServer, browser: Browser, tmp_path: Path
) -> None:
    base, shots = server.registry.url, shared._shots(tmp_path)
    login_server = _registry_with_two_repositories(base)
    page = shared._page(browser)
    shared._sign_in(page, base, "admin", ADMIN_PASSWORD)
    page.get_by_role("link", name="Service principals").click()
    page.get_by_label("Principal name").fill("gallery-viewer")
    page.get_by_role("button", name="Create service principal").click()
    assert "shown this once" in page.content()
    principal = page.locator("#principal-id").inner_text().strip()
    secret = page.locator("pre[data-secret]").inner_text().strip()
    shared._accessible(page)
    page.get_by_role("link", name="Back to service principals").click()
    assert page.locator("pre[data-secret]").count() == 0 and secret not in page.content()
    assert principal in page.content()

    page.goto(f"{base}/portal/registries/gallery")
    page.get_by_role("link", name="Access", exact=True).click()
    page.get_by_label("Role", exact=True).select_option("AcrPull")
    page.locator("#assignee").fill(principal)
    page.get_by_label("Repositories:").fill("apps/web")
    page.get_by_role("button", name="Assign role").click()
    assert page.get_by_role(
        "button", name="Remove AcrPull of gallery-viewer on apps/web"
    ).is_visible()
    shared._accessible(page)

    viewer = shared._page(browser)  # a second browser context: its own cookies
    shared._sign_in(viewer, base, principal, secret)
    viewer.get_by_role("link", name="gallery", exact=True).click()
    viewer.get_by_role("link", name="Repositories").click()
    assert viewer.get_by_role("link", name="web", exact=True).is_visible()
    assert viewer.get_by_role("link", name="db", exact=True).count() == 0
    assert viewer.get_by_role("link", name="Access", exact=True).count() == 0
    refused = viewer.goto(f"{base}/portal/registries/gallery/access")
    assert refused is not None and refused.status == 403

    tags = f"http://{login_server}/v2/apps/web/tags/list"
    assert httpx.get(tags).status_code == 401
    page.get_by_role("button", name="Turn anonymous pull on for the whole registry").click()
    assert httpx.get(tags).status_code == 200
    assert "is on" in page.locator("#anonymous-h + p").inner_text()
    page.screenshot(path=str(shots / "portal-access.png"), full_page=True)
    page.get_by_role("button", name="Turn anonymous pull off").click()
    assert httpx.get(tags).status_code == 401

    page.goto(f"{base}/portal/principals")
    assert "AcrPull on" in page.content()
    shared._accessible(page)
    page.screenshot(path=str(shots / "portal-principals.png"), full_page=True)


def test_a_scope_map_is_edited_and_a_token_rebound(
    server: CliServer, browser: Browser, tmp_path: Path
) -> None:
    base, shots = server.registry.url, shared._shots(tmp_path)
    admin = ("admin", ADMIN_PASSWORD)
    httpx.post(f"{base}/api/v1/registries", json={"name": "maps"}, auth=admin).raise_for_status()
    page = shared._page(browser)
    shared._sign_in(page, base, "admin", ADMIN_PASSWORD)
    tokens = f"{base}/portal/registries/maps/tokens"
    page.goto(tokens)
    page.get_by_label("Scope map name").fill("web-readers")
    page.get_by_label("Repository (or pattern").fill("web/*")
    page.get_by_role("group", name="Actions on it").get_by_label("content/read").check()
    page.get_by_role("button", name="Create scope map").click()
    page.get_by_label("Token name").fill("site-reader")
    page.get_by_label("Passwords expire in days").fill("30")
    page.get_by_role("button", name="Create token").click()
    assert page.locator("pre[data-secret]").count() == 2
    page.goto(tokens)
    assert "(expires " in page.content()
    page.get_by_label("New scope map").select_option("web-readers")
    page.get_by_role("button", name="Rebind token").click()
    row = page.get_by_role("row").filter(has_text="site-reader").first
    assert "web-readers" in row.inner_text()
    shared._accessible(page)

    page.get_by_role("link", name="Edit scope map web-readers").click()
    page.get_by_label("repositories/web/*/content/read").check()
    page.get_by_label("Add actions on a repository").fill("web/site")
    page.get_by_role("group", name="Actions to add on it").get_by_label("metadata/read").check()
    page.get_by_role("button", name="Save scope map").click()
    content = page.content()
    assert "repositories/web/site/metadata/read" in content
    assert "repositories/web/*/content/read" not in content
    shared._accessible(page)
    page.screenshot(path=str(shots / "portal-scope-map.png"), full_page=True)
