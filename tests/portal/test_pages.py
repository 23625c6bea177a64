"""Registry and content pages, and what a limited identity may not see or reach."""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.testclient import TestClient

from tests.portal.conftest import Deployment
from tests.portal.portal_client import ADMIN_PASSWORD, basic
from tests.registry_client import push_image


def _push(deployment: Deployment, registry: str, repo: str, tag: str) -> str:
    """Push a small image into `registry` as the service principal; its digest."""
    port = deployment.settings.port
    pusher = TestClient(
        deployment.http.app,
        base_url=f"http://{registry}.localhost:{port}",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    digest, _ = push_image(pusher, repo, tag)
    return digest


def _admin_push(deployment: Deployment, registry: str, repo: str, tag: str) -> str:
    # The principal may push only where it has a role: give it one on `registry` first.
    role = {"role": "AcrPush", "assignee": deployment.principal}
    deployment.http.post(
        f"/api/v1/registries/{registry}/role-assignments", json=role, headers=deployment.admin
    )
    return _push(deployment, registry, repo, tag)


def test_the_overview_shows_login_server_usage_and_push_commands(deployment: Deployment) -> None:
    _push(deployment, "team", "warrantydept/customersubmissions/web", "v1")
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    page = browser.get("/registries/team").text
    found = re.search(r'<code class="big">([^<]+)</code>', page)
    assert found is not None
    server = found.group(1)
    assert server.startswith("127.0.0.1:")  # the loopback login server of `team`
    assert f"docker login {server}" in page
    assert f"docker push {server}/samples/hello-world:v1" in page
    assert "<meter" in page
    assert "1 repositories · 1 tags" in page


def test_repositories_show_as_a_tree_with_search(deployment: Deployment) -> None:
    digest = _push(deployment, "team", "warrantydept/customersubmissions/web", "v1")
    _push(deployment, "team", "warrantydept/billing", "v1")
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    tree = browser.get("/registries/team/repositories").text
    assert "warrantydept/" in tree and "customersubmissions/" in tree and ">web<" in tree
    found = browser.get("/registries/team/repositories", params={"q": "bill"}).text
    assert "billing" in found and "customersubmissions" not in found
    repo = quote("warrantydept/customersubmissions/web", safe="")
    tags = browser.get(f"/registries/team/tags?repository={repo}").text
    assert ">v1<" in tags and digest[:19] in tags and "linux/amd64" in tags
    manifest = browser.get(f"/registries/team/manifest?repository={repo}&digest={digest}").text
    assert "Layers" in manifest and "application/vnd.oci.image.layer.v1.tar" in manifest


def test_locking_a_tag_refuses_a_push_over_it(deployment: Deployment) -> None:
    _push(deployment, "team", "app", "v1")
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    answer = browser.post(
        "/registries/team/lock",
        {"repository": "app", "tag": "v1", "locked": "true"},
        from_page="/registries/team/tags?repository=app",
    )
    assert answer.status_code == 303, answer.text
    assert "locked" in browser.get("/registries/team/tags?repository=app").text
    port = deployment.settings.port
    pusher = TestClient(
        deployment.http.app,
        base_url=f"http://team.localhost:{port}",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    try:
        push_image(pusher, "app", "v1", layers=[b"another layer"])
    except AssertionError as refused:
        assert "405" in str(refused) or "DENIED" in str(refused) or "locked" in str(refused)
    else:
        raise AssertionError("a push over a locked tag was accepted")


def test_a_token_password_is_shown_once(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    answer = browser.post(
        "/registries/team/tokens",
        {"token": "builder", "scope_map": "_repositories_push"},
        from_page="/registries/team/tokens",
    )
    assert answer.status_code == 201, answer.text
    assert "shown this once" in answer.text and "data-secret" in answer.text
    listing = browser.get("/registries/team/tokens").text
    assert "builder" in listing and "data-secret" not in listing


def test_a_principal_sees_only_its_registry(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    listing = browser.get("/registries").text
    assert ">team<" in listing and ">other<" not in listing
    assert "Create a registry" not in listing
    assert browser.get("/registries/other").status_code == 404
    assert browser.get("/registries/other/repositories").status_code == 404
    assert browser.get("/registries/other/tags?repository=app").status_code == 404
    assert browser.get("/registries/other/tokens").status_code == 404
    refused = browser.post("/registries/other/delete", {"confirm": "other"})
    assert refused.status_code == 403
    create = browser.post("/registries", {"name": "mine"})
    assert create.status_code == 403
    # The management API refuses the same.
    api = deployment.http.get(
        "/api/v1/registries/other",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    assert api.status_code == 403


def test_the_admin_user_of_a_registry_reads_its_content_only(deployment: Deployment) -> None:
    answer = deployment.http.patch(
        "/api/v1/registries/other", json={"adminUserEnabled": True}, headers=deployment.admin
    )
    assert answer.status_code == 200, answer.text
    password = answer.json()["passwords"][0]["value"]
    _admin_push(deployment, "other", "tools/lint", "v2")
    browser = deployment.browser()
    assert browser.sign_in("other", password).status_code == 303
    listing = browser.get("/registries").text
    assert ">other<" in listing and ">team<" not in listing
    assert "tools/" in browser.get("/registries/other/repositories").text
    assert browser.get("/registries/team").status_code == 404
    # Managing is not the admin user's: the tokens page is refused.
    assert browser.get("/registries/other/tokens").status_code == 403


def test_a_registry_is_deleted_only_when_its_name_is_typed(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    wrong = browser.post("/registries/other/delete", {"confirm": "othr"})
    assert wrong.status_code == 400
    assert browser.get("/registries/other").status_code == 200
    right = browser.post("/registries/other/delete", {"confirm": "other"})
    assert right.status_code == 303
    assert browser.get("/registries/other").status_code == 404


def test_bad_input_gets_a_clear_page_not_a_500(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    assert browser.get("/registries/team/tags?repository=UPPER").status_code == 400
    assert browser.get("/registries/team/manifest?repository=app&digest=nope").status_code == 400
    assert browser.get("/registries/team/tags?repository=missing").status_code == 404
    created = browser.post("/registries", {"name": "Bad Name!"})
    assert created.status_code == 400


def test_scope_maps_and_tokens_are_made_and_removed(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    tokens = "/registries/team/tokens"
    form = {
        "scope_map": "readers",
        "repository": "team/*",
        "content/read": "on",
        "metadata/read": "on",
    }
    assert browser.post("/registries/team/scope-maps", form, from_page=tokens).status_code == 303
    page = browser.get(tokens).text
    assert "repositories/team/*/content/read" in page
    made = {"token": "reader", "scope_map": "readers"}
    assert browser.post(tokens, made, from_page=tokens).status_code == 201
    # The map is in use: refused with a page saying so, not a 500.
    in_use = browser.post(
        "/registries/team/scope-maps/delete", {"scope_map": "readers"}, from_page=tokens
    )
    assert in_use.status_code == 409
    off = {"token": "reader", "enabled": "false"}
    assert browser.post("/registries/team/tokens/status", off, from_page=tokens).status_code == 303
    assert "<td>disabled</td>" in browser.get(tokens).text
    gone = browser.post("/registries/team/tokens/delete", {"token": "reader"}, from_page=tokens)
    assert gone.status_code == 303
    removed = browser.post(
        "/registries/team/scope-maps/delete", {"scope_map": "readers"}, from_page=tokens
    )
    assert removed.status_code == 303
    assert "readers" not in browser.get(tokens).text
    no_action = {"scope_map": "emptyone", "repository": "x"}
    assert (
        browser.post("/registries/team/scope-maps", no_action, from_page=tokens).status_code == 400
    )


def test_policies_and_retention_rules_are_set_from_the_page(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    policies = "/registries/team/policies"
    saved = browser.post(
        policies, {"retention_untagged_days": "7", "soft_delete_days": "3"}, from_page=policies
    )
    assert saved.status_code == 303, saved.text
    api = deployment.http.get("/api/v1/registries/team/policies", headers=deployment.admin)
    assert api.json()["retentionUntaggedDays"] == 7, api.text
    rule = {"repositories": "team/*", "tag_filter": "^dev-", "keep_last": "5"}
    added = browser.post("/registries/team/retention-rules", rule, from_page=policies)
    assert added.status_code == 303, added.text
    page = browser.get(policies).text
    assert "^dev-" in page and "Quotas" in page
    bad = browser.post(policies, {"retention_untagged_days": "soon"}, from_page=policies)
    assert bad.status_code == 400
    assert browser.get("/registries/other/policies").status_code == 404


def test_webhooks_show_their_deliveries(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    hooks = "/registries/team/webhooks"
    made = {"webhook": "notify", "uri": "https://receiver.invalid/hook", "action-push": "on"}
    assert browser.post(hooks, made, from_page=hooks).status_code == 303
    _push(deployment, "team", "app", "v1")
    page = browser.get(hooks).text
    assert "notify" in page and "push" in page and "pending" in page
    event = re.search(r'name="event" value="([^"]+)"', page)
    assert event is not None
    again = {"webhook": "notify", "event": event.group(1)}
    assert browser.post(f"{hooks}/redeliver", again, from_page=hooks).status_code == 303


def test_a_deleted_manifest_is_restored_from_the_recycle_bin(deployment: Deployment) -> None:
    digest = _push(deployment, "team", "app", "v1")
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    policies = "/registries/team/policies"
    browser.post(policies, {"soft_delete_days": "7"}, from_page=policies)
    tags = "/registries/team/tags?repository=app"
    deleted = browser.post(
        "/registries/team/delete-content", {"repository": "app", "digest": digest}, from_page=tags
    )
    assert deleted.status_code == 303
    assert "No tags." in browser.get(tags).text
    binned = browser.get("/registries/team/recycle-bin?repository=app").text
    assert digest[:19] in binned and "v1" in binned
    restored = browser.post(
        "/registries/team/recycle-bin/restore",
        {"repository": "app", "digest": digest},
        from_page="/registries/team/recycle-bin",
    )
    assert restored.status_code == 303, restored.text
    assert ">v1<" in browser.get(tags).text


def test_a_repository_is_deleted_only_when_its_name_is_typed(deployment: Deployment) -> None:
    _push(deployment, "team", "team/old", "v1")
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    tags = "/registries/team/tags?repository=team/old"
    form = {"repository": "team/old", "confirm": "team"}
    assert (
        browser.post("/registries/team/delete-repository", form, from_page=tags).status_code == 400
    )
    form["confirm"] = "team/old"
    answer = browser.post("/registries/team/delete-repository", form, from_page=tags)
    assert answer.status_code == 303
    assert browser.get(tags).status_code == 404
