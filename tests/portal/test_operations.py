"""Policy pages finished: immutable tags, quota overrides, purge with its dry-run preview,
and webhook settings (edit, enable/disable, ping, delete); who may use them, CSRF, bad input."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.portal.conftest import Deployment
from tests.portal.portal_client import ADMIN_PASSWORD, PortalClient, basic
from tests.registry_client import OCI_MANIFEST, image_manifest, push_blob, push_image

PURGE = "/registries/team/purge"
POLICIES = "/registries/team/policies"
HOOKS = "/registries/team/webhooks"


def _push(deployment: Deployment, registry: str, repo: str, tag: str) -> str:
    """Push a small image as the service principal (a Contributor of `team`); its digest."""
    pusher = TestClient(
        deployment.http.app,
        base_url=f"http://{registry}.localhost:{deployment.settings.port}",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    digest, _ = push_image(pusher, repo, tag)
    return digest


def _tags(deployment: Deployment, repository: str) -> set[str]:
    """The repository's tags in `team`, as the /acr/v1 API lists them."""
    reader = TestClient(
        deployment.http.app,
        base_url=f"http://team.localhost:{_port(deployment)}",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    answer = reader.get(f"/acr/v1/{repository}/_tags")
    if answer.status_code == 404:  # the last tag went, and the repository with it
        return set()
    assert answer.status_code == 200, answer.text
    return {tag["name"] for tag in answer.json()["tags"]}


def _port(deployment: Deployment) -> int:
    return deployment.settings.port


def _admin(deployment: Deployment) -> PortalClient:
    browser = deployment.browser()
    assert browser.sign_in("admin", ADMIN_PASSWORD).status_code == 303
    return browser


def _hidden(page: str) -> dict[str, str]:
    """The confirm form's hidden fields (everything but the CSRF token)."""
    form = page[page.index("/purge/confirm") :]
    form = form[: form.index("</form>")]
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form))
    fields.pop("csrf")
    return fields


def test_purge_previews_then_deletes_exactly_what_it_showed(deployment: Deployment) -> None:
    for tag in ("v1", "v2", "keep"):
        _push(deployment, "team", "app", tag)
    browser = _admin(deployment)
    asked = {"repository": "app", "tag": "^v", "ago": "0", "keep": "0"}
    preview = browser.post(PURGE, asked, from_page=PURGE)
    assert preview.status_code == 200, preview.text
    assert "Preview: 2 would be deleted" in preview.text
    assert re.search(r"<td>v1</td>", preview.text) and re.search(r"<td>v2</td>", preview.text)
    assert "<td>keep</td>" not in preview.text
    assert _tags(deployment, "app") == {"v1", "v2", "keep"}  # the preview changed nothing
    done = browser.post(f"{PURGE}/confirm", _hidden(preview.text), from_page=PURGE)
    assert done.status_code == 200, done.text
    assert "Purged: 2 deleted" in done.text
    assert _tags(deployment, "app") == {"keep"}


def test_purge_asks_again_when_the_list_changed(deployment: Deployment) -> None:
    for tag in ("v1", "v2"):
        _push(deployment, "team", "app", tag)
    browser = _admin(deployment)
    asked = {"repository": "app", "tag": "^v", "ago": "0"}
    preview = browser.post(PURGE, asked, from_page=PURGE)
    _push(deployment, "team", "app", "v3")  # would go too, but was not shown
    again = browser.post(f"{PURGE}/confirm", _hidden(preview.text), from_page=PURGE)
    assert again.status_code == 409, again.text
    assert "changed since the preview" in again.text and "<td>v3</td>" in again.text
    assert _tags(deployment, "app") == {"v1", "v2", "v3"}
    done = browser.post(f"{PURGE}/confirm", _hidden(again.text), from_page=PURGE)
    assert "Purged: 3 deleted" in done.text and _tags(deployment, "app") == set()


def test_purge_bad_input_gets_the_form_back(deployment: Deployment) -> None:
    browser = _admin(deployment)
    for bad, words in (
        ({"repository": "(", "tag": ".*", "ago": "0"}, "repository expression"),
        ({"repository": ".*", "tag": "(?=x)", "ago": "0"}, "lookaround"),
        ({"repository": ".*", "tag": ".*", "ago": "soon"}, "not a duration"),
        ({"repository": ".*", "tag": ".*", "ago": ""}, "how old"),
        ({"repository": ".*", "tag": ".*", "ago": "0", "keep": "-1"}, "keep"),
    ):
        answer = browser.post(PURGE, bad, from_page=PURGE)
        assert answer.status_code == 400, (bad, answer.text)
        assert words in answer.text and 'action="/portal/registries/team/purge"' in answer.text
    forged = browser.post(f"{PURGE}/confirm", {"ago": "0", "fingerprint": "x"}, from_page=PURGE)
    assert forged.status_code == 409  # a made-up fingerprint deletes nothing


def test_immutable_tags_refuse_a_push_over_a_tag(deployment: Deployment) -> None:
    _push(deployment, "team", "app", "v1")
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    made = browser.post(
        "/registries/team/immutable-tags", {"immutable_tags": "on"}, from_page=POLICIES
    )
    assert made.status_code == 303, made.text
    assert 'name="immutable_tags" checked' in browser.get(POLICIES).text
    api = deployment.http.get("/api/v1/registries/team", headers=deployment.admin)
    assert api.json()["immutableTagsEnabled"] is True
    pusher = TestClient(
        deployment.http.app,
        base_url=f"http://team.localhost:{_port(deployment)}",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    config = b'{"architecture":"amd64","os":"linux","other":1}'
    push_blob(pusher, "app", config)
    push_blob(pusher, "app", b"another layer")
    body = image_manifest(config, [b"another layer"])
    moved = pusher.put("/v2/app/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST})
    assert moved.status_code in (400, 409), moved.text
    off = browser.post("/registries/team/immutable-tags", {}, from_page=POLICIES)
    assert off.status_code == 303
    assert 'name="immutable_tags" checked' not in browser.get(POLICIES).text


def test_quota_overrides_are_the_administrators(deployment: Deployment) -> None:
    browser = _admin(deployment)
    quotas = {"storage_bytes": "2GiB", "repositories": "7", "tokens": ""}
    saved = browser.post("/registries/team/quotas", quotas, from_page=POLICIES)
    assert saved.status_code == 303, saved.text
    api = deployment.http.get("/api/v1/registries/team", headers=deployment.admin).json()
    assert api["quotaStorageBytes"] == 2 << 30 and api["quotaRepositories"] == 7
    page = browser.get(POLICIES).text
    assert 'name="repositories" value="7"' in page
    for bad in (
        {"repositories": "many"},
        {"repositories": "7B"},
        {"storage_bytes": "2 GB"},
        {"tokens": "1.5"},
        {"webhooks": str(1 << 40)},
    ):
        answer = browser.post("/registries/team/quotas", bad, from_page=POLICIES)
        assert answer.status_code == 400, (bad, answer.text)
    reset = browser.post("/registries/team/quotas", {}, from_page=POLICIES)
    assert reset.status_code == 303
    api = deployment.http.get("/api/v1/registries/team", headers=deployment.admin).json()
    assert api.get("quotaRepositories") is None
    # A Contributor manages the registry but not its quotas, as in the management API.
    principal = deployment.browser()
    principal.sign_in(deployment.principal, deployment.principal_secret)
    assert 'action="/portal/registries/team/quotas"' not in principal.get(POLICIES).text
    refused = principal.post("/registries/team/quotas", {"tokens": "1"}, from_page=POLICIES)
    assert refused.status_code == 403


def test_a_limited_identity_gets_404_or_403(deployment: Deployment) -> None:
    role = {"role": "AcrPull", "assignee": deployment.principal}
    answer = deployment.http.post(
        "/api/v1/registries/other/role-assignments", json=role, headers=deployment.admin
    )
    assert answer.status_code == 201, answer.text
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    # `other` is visible (it may pull there) but not managed: every page and form is 403.
    assert browser.get("/registries/other/purge").status_code == 403
    assert browser.get("/registries/other/webhooks/edit?webhook=notify").status_code == 403
    for path in ("/purge", "/purge/confirm", "/immutable-tags", "/webhooks/ping"):
        posted = browser.post(f"/registries/other{path}", {"ago": "0", "webhook": "notify"})
        assert posted.status_code == 403, path
    # A registry that does not exist is as missing as one it may not see.
    assert browser.get("/registries/nowhere/purge").status_code == 404


def test_forms_without_the_csrf_token_are_refused(deployment: Deployment) -> None:
    _push(deployment, "team", "app", "v1")
    browser = _admin(deployment)
    for path in ("/purge", "/purge/confirm", "/immutable-tags", "/quotas", "/webhooks/update"):
        answer = browser.client.post(
            f"/portal/registries/team{path}",
            data={"ago": "0", "repository": "app", "tag": ".*", "csrf": "forged"},
        )
        assert answer.status_code == 403, path
    assert _tags(deployment, "app") == {"v1"}


def test_a_webhook_is_edited_disabled_pinged_and_deleted(deployment: Deployment) -> None:
    browser = _admin(deployment)
    made = {"webhook": "notify", "uri": "https://receiver.invalid/hook", "action-push": "on"}
    assert browser.post(HOOKS, made, from_page=HOOKS).status_code == 303
    edit = f"{HOOKS}/edit?webhook=notify"
    form = browser.get(edit).text
    assert 'value="https://receiver.invalid/hook"' in form
    changed = {
        "webhook": "notify",
        "uri": "https://receiver.invalid/other",
        "action-push": "on",
        "action-delete": "on",
        "scope": "app:*",
        "replace_headers": "on",
        "headers": "Authorization: Bearer s3cret-value\nX-Team: blue",
    }
    assert browser.post(f"{HOOKS}/update", changed, from_page=edit).status_code == 303
    form = browser.get(edit).text
    assert "https://receiver.invalid/other" in form and 'value="app:*"' in form
    assert "Authorization: *****" in form and "s3cret-value" not in form
    assert "s3cret-value" not in browser.get(HOOKS).text
    # Saving again without replacing the headers keeps them.
    changed.pop("replace_headers")
    assert browser.post(f"{HOOKS}/update", changed, from_page=edit).status_code == 303
    assert "X-Team: *****" in browser.get(edit).text
    bad = {**changed, "uri": "not a uri"}
    refused = browser.post(f"{HOOKS}/update", bad, from_page=edit)
    assert refused.status_code == 400 and "Save webhook" in refused.text
    no_actions = {"webhook": "notify", "uri": "https://receiver.invalid/x"}
    assert browser.post(f"{HOOKS}/update", no_actions, from_page=edit).status_code == 400
    bad_header = {**changed, "replace_headers": "on", "headers": "no colon here"}
    assert browser.post(f"{HOOKS}/update", bad_header, from_page=edit).status_code == 400

    off = {"webhook": "notify", "enabled": "false"}
    assert browser.post(f"{HOOKS}/status", off, from_page=HOOKS).status_code == 303
    assert "(disabled)" in browser.get(HOOKS).text
    on = {"webhook": "notify", "enabled": "true"}
    assert browser.post(f"{HOOKS}/status", on, from_page=HOOKS).status_code == 303
    assert "(disabled)" not in browser.get(HOOKS).text
    pinged = browser.post(f"{HOOKS}/ping", {"webhook": "notify"}, from_page=HOOKS)
    assert pinged.status_code == 303
    assert "<td>ping</td>" in browser.get(HOOKS).text
    gone = browser.post(f"{HOOKS}/delete", {"webhook": "notify"}, from_page=HOOKS)
    assert gone.status_code == 303
    assert "No webhooks." in browser.get(HOOKS).text
    assert browser.get(edit).status_code == 404
    missing = browser.post(f"{HOOKS}/ping", {"webhook": "notify"}, from_page=HOOKS)
    assert missing.status_code == 404
