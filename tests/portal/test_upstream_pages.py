"""Cache rules and credential sets, import jobs and replications in the portal: who may use
them, CSRF, bad input, a password never shown again, a job page that reloads until done,
and an image's replication status per location (two locations over one database, as
tests/replication/test_locations.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.metadata.migrate import upgrade
from tests.portal.conftest import Deployment
from tests.portal.portal_client import ADMIN_PASSWORD, PortalClient, basic
from tests.registry_client import push_image
from tests.replication.test_locations import ADMIN as REPLICATION_ADMIN
from tests.replication.test_locations import located_settings

CACHE = "/registries/team/cache"
IMPORTS = "/registries/team/imports"
SECRET = "upstream-pa55word-never-shown"


def _admin(deployment: Deployment) -> PortalClient:
    browser = deployment.browser()
    assert browser.sign_in("admin", ADMIN_PASSWORD).status_code == 303
    return browser


def _principal(deployment: Deployment) -> PortalClient:
    browser = deployment.browser()
    assert browser.sign_in(deployment.principal, deployment.principal_secret).status_code == 303
    return browser


def test_credential_sets_and_cache_rules_are_managed(deployment: Deployment) -> None:
    browser = _principal(deployment)
    made = {"set": "hub-login", "login_server": "docker.io", "username": "me", "password": SECRET}
    answer = browser.post(f"{CACHE}/credential-sets", made, from_page=CACHE)
    assert answer.status_code == 303, answer.text
    page = browser.get(CACHE).text
    assert "hub-login" in page and "docker.io" in page and SECRET not in page
    api = deployment.http.get(
        "/api/v1/registries/team/credentialSets/hub-login", headers=deployment.admin
    )
    assert api.json()["password"] == "*****" and SECRET not in api.text
    replaced = {"set": "hub-login", "password": "a-new-pa55word"}
    answer = browser.post(f"{CACHE}/credential-sets/update", replaced, from_page=CACHE)
    assert answer.status_code == 303
    assert "a-new-pa55word" not in browser.get(CACHE).text

    rule = {
        "rule": "hub-nginx",
        "source": "docker.io/library/nginx",
        "target": "nginx",
        "credential_set": "hub-login",
        "ttl": "600",
    }
    assert browser.post(f"{CACHE}/rules", rule, from_page=CACHE).status_code == 303
    listed = deployment.http.get("/api/v1/registries/team/cacheRules", headers=deployment.admin)
    assert listed.json()[0]["credentialSet"] == "hub-login"
    assert listed.json()[0]["ttlSeconds"] == 600
    changed = {"rule": "hub-nginx", "credential_set": "", "ttl": "60", "allow_push": "on"}
    assert browser.post(f"{CACHE}/rules/update", changed, from_page=CACHE).status_code == 303
    shown = deployment.http.get(
        "/api/v1/registries/team/cacheRules/hub-nginx", headers=deployment.admin
    ).json()
    assert shown.get("credentialSet") is None and shown["ttlSeconds"] == 60 and shown["allowPush"]

    for path, bad in (
        ("/rules", {**rule, "rule": "x"}),
        ("/rules", {**rule, "rule": "other-rule", "ttl": "soon"}),
        ("/rules", {**rule, "rule": "other-rule", "credential_set": "missing-set"}),
        ("/credential-sets", {**made, "set": "b@d"}),
        ("/credential-sets", {**made, "set": "other-set", "password": ""}),
    ):
        refused = browser.post(f"{CACHE}{path}", bad, from_page=CACHE)
        assert refused.status_code == 400, (path, bad, refused.text)
        assert 'class="error"' in refused.text and "Add cache rule" in refused.text
    taken = browser.post(f"{CACHE}/rules", rule, from_page=CACHE)
    assert taken.status_code == 409

    gone = browser.post(f"{CACHE}/rules/delete", {"rule": "hub-nginx"}, from_page=CACHE)
    assert gone.status_code == 303
    gone = browser.post(f"{CACHE}/credential-sets/delete", {"set": "hub-login"}, from_page=CACHE)
    assert gone.status_code == 303
    page = browser.get(CACHE).text
    assert "No cache rules." in page and "No credential sets." in page


def test_upstream_pages_refuse_limited_identities_and_forged_forms(
    deployment: Deployment,
) -> None:
    role = {"role": "AcrPull", "assignee": deployment.principal}
    answer = deployment.http.post(
        "/api/v1/registries/other/role-assignments", json=role, headers=deployment.admin
    )
    assert answer.status_code == 201, answer.text
    browser = _principal(deployment)
    for path in ("/cache", "/imports", "/replications", "/imports/some-job"):
        assert browser.get(f"/registries/other{path}").status_code == 403, path
        assert browser.get(f"/registries/nowhere{path}").status_code == 404, path
    for path in ("/cache/rules", "/cache/credential-sets/delete", "/imports", "/replications"):
        posted = browser.post(f"/registries/other{path}", {"source": "app:v1"})
        assert posted.status_code == 403, path
    for path in ("/cache/credential-sets", "/imports", "/replications/delete"):
        forged = browser.client.post(f"/portal/registries/team{path}", data={"csrf": "forged"})
        assert forged.status_code == 403, path
    # Importing from a registry it may not manage is refused, as the management API does.
    local = {"source": "app:v1", "source_registry": "other"}
    assert browser.post(IMPORTS, local, from_page=IMPORTS).status_code == 403


def test_an_import_job_shows_its_progress_until_done(deployment: Deployment) -> None:
    pusher = TestClient(
        deployment.http.app,
        base_url=f"http://team.localhost:{deployment.settings.port}",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    push_image(pusher, "app", "v1")
    browser = _admin(deployment)
    other = "/registries/other/imports"
    asked = {"source": "app:v1", "source_registry": "team", "targets": "copied/app:v1"}
    started = browser.post(other, asked, from_page=other)
    assert started.status_code == 303, started.text
    job_page = started.headers["location"].removeprefix("/portal")
    deadline = time.monotonic() + 30
    page = browser.get(job_page).text
    while "succeeded" not in page and "failed" not in page and time.monotonic() < deadline:
        assert 'http-equiv="refresh"' in page  # a running job's page reloads itself
        time.sleep(0.2)
        page = browser.get(job_page).text
    status = re.search(r'id="job-status">([a-z]+)<', page)
    assert status is not None and status.group(1) == "succeeded", page
    assert 'http-equiv="refresh"' not in page and "copied/app:v1" in page
    assert "app:v1" in browser.get(other).text
    again = browser.post(other, asked, from_page=other)  # the tag exists now: Force needed
    assert again.status_code == 409 and "Start import" in again.text, again.text
    forced = browser.post(other, {**asked, "force": "on"}, from_page=other)
    assert forced.status_code == 303, forced.text


def test_import_bad_input_gets_the_form_back(deployment: Deployment) -> None:
    browser = _admin(deployment)
    for bad, status in (
        ({"source": "no-host/repo:tag"}, 400),
        ({"source": "example.com/repo:tag", "username": "u"}, 400),
        ({"source": "example.com/repo:tag", "targets": "bad name!"}, 400),
        ({"source": "10.1.2.3/repo:tag"}, 400),
        ({"source": "example.com/a:b", "credential_set": "missing1"}, 404),
        ({"source": "repo:tag", "source_registry": "nowhere"}, 404),
    ):
        answer = browser.post(IMPORTS, bad, from_page=IMPORTS)
        assert answer.status_code == status, (bad, answer.text)
        assert 'class="error"' in answer.text and "Start import" in answer.text
    assert "No imports yet." in browser.get(IMPORTS).text
    assert browser.get(f"{IMPORTS}/not-a-job").status_code == 404


@pytest.fixture
def two_locations(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    """westeurope and eastus: two apps over one database, each with its own storage."""
    west = located_settings(tmp_path, "westeurope", "eastus")
    east = located_settings(tmp_path, "eastus", "westeurope")
    upgrade(west.resolved_database_url())
    with (
        TestClient(create_app(west), base_url="http://localhost") as a,
        TestClient(create_app(east), base_url="http://localhost") as b,
    ):
        yield a, b


def test_replications_and_an_images_status(two_locations: tuple[TestClient, TestClient]) -> None:
    west, _ = two_locations
    browser = PortalClient(west)
    assert browser.sign_in("admin", REPLICATION_ADMIN).status_code == 303
    page_path = "/registries/default/replications"
    page = browser.get(page_path).text
    assert "Not replicated." in page and "<option>eastus</option>" in page
    for location in ("eastus", "westeurope"):
        made = {"location": location, "region_endpoint_enabled": "on"}
        assert browser.post(page_path, made, from_page=page_path).status_code == 303
    unknown = browser.post(page_path, {"location": "mars"}, from_page=page_path)
    assert unknown.status_code == 400 and "unknown location" in unknown.text
    # The default registry answers anonymous loopback pushes (anonymous_loopback).
    digest, _ = push_image(west, "app", "v1", layers=[b"x" * 5000])
    page = browser.get(page_path, params={"image": "app:v1"}).text
    assert re.search(r"<td>eastus</td><td>\d of \d</td>", page), page
    assert "<td>westeurope</td>" in page
    deadline = time.monotonic() + 30
    while page.count("complete") < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
        page = browser.get(page_path, params={"image": f"app@{digest}"}).text
    assert page.count(">complete<") + page.count("complete</td>") >= 2, page

    off = {"location": "eastus", "region_endpoint_enabled": "false"}
    assert browser.post(f"{page_path}/update", off, from_page=page_path).status_code == 303
    assert "Route to eastus" in browser.get(page_path).text
    assert browser.get(page_path, params={"image": "app:nope"}).status_code == 404
    assert browser.get(page_path, params={"image": "app@sha256:zz"}).status_code == 400
    gone = browser.post(f"{page_path}/delete", {"location": "eastus"}, from_page=page_path)
    assert gone.status_code == 303
    page = browser.get(page_path).text
    assert "Stop replicating to eastus" not in page and "<option>eastus</option>" in page
    missing = browser.post(f"{page_path}/delete", {"location": "eastus"}, from_page=page_path)
    assert missing.status_code == 404
