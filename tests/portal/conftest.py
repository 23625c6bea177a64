"""Fixtures of the portal tests: a Portside app in this process with a known administrator
password, a registry `team` with a pushed image, and a service principal with a role on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.migrate import upgrade
from tests.e2e.cli_server import CliServer, start_cli_server, stop_and_check
from tests.e2e.clients import require_tool
from tests.e2e.conftest import dockerd  # noqa: F401 (docker for the browser tests)
from tests.portal.portal_client import ADMIN_PASSWORD, PortalClient, basic

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@dataclass
class Deployment:
    """A running app, its settings and the identities the tests sign in as."""

    settings: Settings
    http: TestClient
    principal: str = ""
    principal_secret: str = ""

    def browser(self) -> PortalClient:
        """A new browser (its own cookie jar) on the same app."""
        client = TestClient(self.http.app, base_url="http://localhost")
        return PortalClient(client)

    @property
    def admin(self) -> dict[str, str]:
        """The administrator's Basic header for the management API."""
        return basic("admin", ADMIN_PASSWORD)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """An app with registries `team` and `other`, and a service principal that is a
    Contributor of `team` only."""
    settings = Settings(
        data_dir=tmp_path / "data",
        admin_password=ADMIN_PASSWORD,
        anonymous_loopback=False,
        login_max_failures=1000,
        # Events stay pending: nothing is ever sent to a webhook's address from these tests.
        webhook_poll_seconds=0,
    )
    upgrade(settings.resolved_database_url())
    with TestClient(create_app(settings), base_url="http://localhost") as http:
        found = Deployment(settings, http)
        for name in ("team", "other"):
            answer = http.post("/api/v1/registries", json={"name": name}, headers=found.admin)
            assert answer.status_code == 201, answer.text
        answer = http.post("/api/v1/service-principals", json={"name": "ci"}, headers=found.admin)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        found.principal = body["appId"] if "appId" in body else body["id"]
        found.principal_secret = _secret_of(body)
        role = {"role": "Contributor", "assignee": found.principal}
        answer = http.post(
            "/api/v1/registries/team/role-assignments", json=role, headers=found.admin
        )
        assert answer.status_code == 201, answer.text
        yield found


def _secret_of(body: dict[str, object]) -> str:
    for key in ("secret", "password", "secrets", "credentials", "passwords"):
        value = body.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value:
            first = value[0]
            if isinstance(first, dict):
                for inner in ("value", "secret", "password"):
                    if isinstance(first.get(inner), str):
                        return str(first[inner])
    raise AssertionError(f"no secret in {body}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """A credentials-only `portside serve` on a loopback port, one per browser-test module."""
    running = start_cli_server(tmp_path_factory.mktemp("portal-server"))
    try:
        yield running
    finally:
        stop_and_check(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium (never a downloaded browser), one per browser-test module."""
    # Imported here: the in-process portal tests run without playwright's import.
    from playwright.sync_api import sync_playwright

    executable = require_tool("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()
