"""The operations pages in a real browser (Debian's chromium through Playwright against
`portside serve`): purge previews its candidates and its confirm deletes exactly them; the
webhook, cache, import and replication pages pass axe-core and are photographed for
docs/portal.md (PORTSIDE_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

if os.environ.get("CI", "").strip().lower() != "true":
    # Under CI a missing playwright fails the import (scripts/install.sh --test installs it).
    pytest.importorskip("playwright", reason="run scripts/install.sh --test for playwright")
from playwright.sync_api import Browser

from tests.e2e.cli_server import ADMIN_PASSWORD, CliServer, start_cli_server, stop_and_check
from tests.portal.test_browser import (
    _accessible,
    _page,
    _shots,
    _sign_in,
    _wait_for_login_server,
)
from tests.registry_client import push_image

pytestmark = pytest.mark.e2e


def _tags(login_server: str, password: str, repository: str) -> set[str]:
    with httpx.Client(base_url=f"http://{login_server}", auth=("ops", password)) as client:
        answer = client.get(f"/acr/v1/{repository}/_tags")
    answer.raise_for_status()
    return {tag["name"] for tag in answer.json()["tags"]}


def test_purge_preview_then_confirm_deletes_exactly_the_candidates(
    server: CliServer, browser: Browser, tmp_path: Path
) -> None:
    base, admin = server.registry.url, ("admin", ADMIN_PASSWORD)
    body = {"name": "ops", "adminUserEnabled": True}
    created = httpx.post(f"{base}/api/v1/registries", json=body, auth=admin)
    created.raise_for_status()
    password = created.json()["passwords"][0]["value"]
    login_server = created.json()["loginServer"]
    _wait_for_login_server(login_server)
    with httpx.Client(base_url=f"http://{login_server}", auth=("ops", password)) as client:
        for tag in ("v1", "v2", "stable"):
            push_image(client, "shop/web", tag)  # type: ignore[arg-type]
    shots = _shots(tmp_path)
    page = _page(browser)
    _sign_in(page, base, "admin", ADMIN_PASSWORD)
    page.goto(f"{base}/portal/registries/ops/purge")
    page.get_by_label("Repositories matching").fill("shop/.*")
    page.get_by_label("Tags matching").fill("^v")
    page.get_by_label("Last updated more than").fill("0")
    page.get_by_role("button", name="Preview").click()
    assert page.get_by_role("heading", name="Preview: 2 would be deleted").is_visible()
    rows = page.locator("table.purge tbody tr")
    assert sorted(rows.nth(i).locator("td").nth(2).inner_text() for i in range(2)) == [
        "v1",
        "v2",
    ]
    assert rows.count() == 2
    assert _tags(login_server, password, "shop/web") == {"v1", "v2", "stable"}
    _accessible(page)
    page.screenshot(path=str(shots / "portal-purge.png"), full_page=True)
    page.get_by_role("button", name="Delete these now").click()
    assert page.get_by_role("heading", name="Purged: 2 deleted").is_visible()
    assert _tags(login_server, password, "shop/web") == {"stable"}

    # Quota overrides and immutable tags live on the policies page.
    page.goto(f"{base}/portal/registries/ops/policies")
    page.get_by_label("Repositories limit").fill("50")
    page.get_by_role("button", name="Save quotas").click()
    assert page.get_by_label("Repositories limit").input_value() == "50"
    _accessible(page)

    hooks = f"{base}/portal/registries/ops/webhooks"
    page.goto(hooks)
    page.get_by_label("Webhook name").fill("notify")
    page.get_by_label("Service URI").fill("https://receiver.invalid/hook")
    page.get_by_role("button", name="Add webhook").click()
    page.get_by_role("link", name="Edit notify").click()
    page.get_by_label("Scope").fill("shop/web:*")
    page.get_by_role("button", name="Save webhook").click()
    page.get_by_role("button", name="Ping notify").click()
    assert "shop/web:*" in page.content() and "<td>ping</td>" in page.content()
    _accessible(page)
    page.goto(f"{hooks}/edit?webhook=notify")
    _accessible(page)

    page.goto(f"{base}/portal/registries/ops/cache")
    page.get_by_label("Credential set name").fill("hub-login")
    page.get_by_label("Login server").fill("docker.io")
    page.get_by_label("User name", exact=True).fill("me")
    page.get_by_label("Password", exact=True).fill("never-shown-again")
    page.get_by_role("button", name="Add credential set").click()
    page.get_by_label("Rule name").fill("hub-nginx")
    page.get_by_label("Source (").fill("docker.io/library/nginx")
    page.get_by_label("Target repository").fill("nginx")
    page.get_by_role("button", name="Add cache rule").click()
    assert "never-shown-again" not in page.content() and "hub-nginx" in page.content()
    _accessible(page)
    page.screenshot(path=str(shots / "portal-cache.png"), full_page=True)

    page.goto(f"{base}/portal/registries/ops/imports")
    page.get_by_label("Source (").fill("shop/web:stable")
    page.get_by_label("Source registry of this deployment").fill("ops")
    page.get_by_role("textbox", name="Target tags").fill("copies/web:stable")
    page.get_by_role("button", name="Start import").click()
    page.wait_for_selector("#job-status:text('succeeded')", timeout=30_000)
    _accessible(page)
    page.screenshot(path=str(shots / "portal-import.png"), full_page=True)
    assert _tags(login_server, password, "copies/web") == {"stable"}


@pytest.fixture
def located(tmp_path: Path) -> Iterator[CliServer]:
    """`portside serve` in westeurope, knowing eastus's storage (a folder of its own)."""
    eastus = tmp_path / "eastus-blobs"
    others = json.dumps({"eastus": {"storage_path": str(eastus)}})
    env = {"PORTSIDE_LOCATION": "westeurope", "PORTSIDE_LOCATIONS": others}
    (tmp_path / "westeurope").mkdir()
    running = start_cli_server(tmp_path / "westeurope", extra_env=env)
    try:
        yield running
    finally:
        stop_and_check(running)


def test_replications_show_an_images_status_per_location(
    located: CliServer, browser: Browser, tmp_path: Path
) -> None:
    base, admin = located.registry.url, ("admin", ADMIN_PASSWORD)
    body = {"name": "geo", "adminUserEnabled": True}
    created = httpx.post(f"{base}/api/v1/registries", json=body, auth=admin)
    created.raise_for_status()
    password = created.json()["passwords"][0]["value"]
    login_server = created.json()["loginServer"]
    _wait_for_login_server(login_server)
    with httpx.Client(base_url=f"http://{login_server}", auth=("geo", password)) as client:
        push_image(client, "shop/web", "v1", layers=[b"x" * 20_000])  # type: ignore[arg-type]
    page = _page(browser)
    _sign_in(page, base, "admin", ADMIN_PASSWORD)
    page.goto(f"{base}/portal/registries/geo/replications")
    page.get_by_label("Location", exact=True).select_option("eastus")
    page.get_by_role("button", name="Add replication").click()
    assert page.get_by_role("button", name="Stop replicating to eastus").is_visible()
    page.get_by_label("Image (").fill("shop/web:v1")
    page.get_by_role("button", name="Show status").click()
    table = page.get_by_role("table").filter(has_text="shop/web:v1")
    assert table.get_by_role("cell", name="eastus").is_visible()
    _accessible(page)
    page.screenshot(path=str(_shots(tmp_path) / "portal-replications.png"), full_page=True)
