"""Access pages: service principals (the administrator's), role assignments (an Owner's),
anonymous pull, and the rest of tokens and scope maps; who is refused, CSRF, bad input."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.portal.conftest import Deployment
from tests.portal.portal_client import ADMIN_PASSWORD, PortalClient, basic
from tests.registry_client import push_image

_SECRET = re.compile(r"<pre class=\"copy\" data-secret>([^<]+)</pre>")
_ID = re.compile(r'<pre class="copy" id="principal-id">([^<]+)</pre>')


def _admin(deployment: Deployment) -> PortalClient:
    browser = deployment.browser()
    assert browser.sign_in("admin", ADMIN_PASSWORD).status_code == 303
    return browser


def _principal(deployment: Deployment, role: str | None, registry: str = "team") -> PortalClient:
    """A browser signed in as a new service principal holding `role` on `registry`."""
    made = deployment.http.post(
        "/api/v1/service-principals", json={"name": f"p-{role}"}, headers=deployment.admin
    )
    assert made.status_code == 201, made.text
    principal, secret = made.json()["id"], made.json()["secrets"][0]["value"]
    if role is not None:
        body = {"role": role, "assignee": principal}
        answer = deployment.http.post(
            f"/api/v1/registries/{registry}/role-assignments", json=body, headers=deployment.admin
        )
        assert answer.status_code == 201, answer.text
    browser = deployment.browser()
    assert browser.sign_in(principal, secret).status_code == 303
    return browser


def _anonymous(deployment: Deployment, registry: str) -> TestClient:
    """A client without credentials on `registry`'s login server."""
    port = deployment.settings.port
    return TestClient(deployment.http.app, base_url=f"http://{registry}.localhost:{port}")


def _push(deployment: Deployment, repository: str) -> None:
    port = deployment.settings.port
    pusher = TestClient(
        deployment.http.app,
        base_url=f"http://team.localhost:{port}",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    push_image(pusher, repository, "v1")


def test_a_principal_is_created_its_secret_shown_once_then_deleted(
    deployment: Deployment,
) -> None:
    browser = _admin(deployment)
    made = browser.post("/principals", {"principal": "deployer"}, from_page="/principals")
    assert made.status_code == 201, made.text
    assert "shown this once" in made.text
    principal = _ID.search(made.text)
    secret = _SECRET.search(made.text)
    assert principal is not None and secret is not None
    listing = browser.get("/principals").text
    assert "deployer" in listing and principal.group(1) in listing
    assert "data-secret" not in listing and secret.group(1) not in listing
    # The secret is a real one: the management API takes it.
    api = deployment.http.get(
        "/api/v1/registries", headers=basic(principal.group(1), secret.group(1))
    )
    assert api.status_code == 200, api.text
    form = {"principal": principal.group(1), "expiry_days": "30"}
    second = browser.post("/principals/secrets", form, from_page="/principals")
    assert second.status_code == 201 and "secret2" in second.text and "expires" in second.text
    reset = {"principal": principal.group(1), "reset": "on"}
    third = browser.post("/principals/secrets", reset, from_page="/principals")
    assert third.status_code == 201
    # Resetting removed the first secret: it no longer signs in.
    old = deployment.http.get(
        "/api/v1/registries", headers=basic(principal.group(1), secret.group(1))
    )
    assert old.status_code == 401
    signed_in = deployment.browser()
    assert signed_in.sign_in(principal.group(1), _only_secret(third.text)).status_code == 303
    gone = browser.post(
        "/principals/delete", {"principal": principal.group(1)}, from_page="/principals"
    )
    assert gone.status_code == 303
    # Its portal session ended with it.
    assert signed_in.get("/registries").status_code == 303
    assert principal.group(1) not in browser.get("/principals").text


def _only_secret(html: str) -> str:
    """The one secret a page shows."""
    found = _SECRET.search(html)
    assert found is not None, html[:1000]
    return found.group(1)


def test_only_the_administrator_reaches_service_principals(deployment: Deployment) -> None:
    contributor = deployment.browser()
    contributor.sign_in(deployment.principal, deployment.principal_secret)
    assert contributor.get("/principals").status_code == 403
    assert "Service principals" not in contributor.get("/registries").text
    made = contributor.post("/principals", {"principal": "sneaky"})
    assert made.status_code == 403
    secret = contributor.post("/principals/secrets", {"principal": deployment.principal})
    assert secret.status_code == 403
    gone = contributor.post("/principals/delete", {"principal": deployment.principal})
    assert gone.status_code == 403
    # As the management API.
    api = deployment.http.get(
        "/api/v1/service-principals",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    assert api.status_code == 403


def test_forms_without_the_csrf_token_are_refused(deployment: Deployment) -> None:
    browser = _admin(deployment)
    client = browser.client
    for path, form in (
        ("/portal/principals", {"principal": "x"}),
        ("/portal/principals/delete", {"principal": deployment.principal}),
        ("/portal/registries/team/anonymous-pull", {"enabled": "true"}),
        ("/portal/registries/team/role-assignments", {"role": "AcrPull", "assignee": "x"}),
        ("/portal/registries/team/tokens/password", {"token": "x", "password": "password1"}),
        ("/portal/registries/team/scope-maps/edit", {"scope_map": "x"}),
    ):
        for token in ({}, {"csrf": "forged"}):
            answer = client.post(path, data={**form, **token}, follow_redirects=False)
            assert answer.status_code == 403, (path, answer.text)
    api = deployment.http.get("/api/v1/registries/team", headers=deployment.admin)
    assert api.json()["anonymousPullEnabled"] is False


def test_an_owner_assigns_and_removes_roles(deployment: Deployment) -> None:
    owner = _principal(deployment, "Owner")
    access = "/registries/team/access"
    page = owner.get(access)
    assert page.status_code == 200 and "Assign a role" in page.text
    # A Contributor holds the registry's other role: listed with its role.
    assert deployment.principal in page.text and "Contributor" in page.text
    made = deployment.http.post(
        "/api/v1/service-principals", json={"name": "puller"}, headers=deployment.admin
    )
    puller = made.json()["id"]
    form = {"role": "AcrPull", "assignee": puller, "repositories": "apps/*"}
    assert (
        owner.post("/registries/team/role-assignments", form, from_page=access).status_code == 303
    )
    api = deployment.http.get(
        f"/api/v1/registries/team/role-assignments?assignee={puller}", headers=deployment.admin
    )
    assert [(a["role"], a["repositories"]) for a in api.json()] == [("AcrPull", "apps/*")]
    number = str(api.json()[0]["id"])
    removed = owner.post(
        "/registries/team/role-assignments/delete", {"assignment": number}, from_page=access
    )
    assert removed.status_code == 303
    api = deployment.http.get(
        f"/api/v1/registries/team/role-assignments?assignee={puller}", headers=deployment.admin
    )
    assert api.json() == []


def test_a_contributor_sees_access_but_not_role_assignments(deployment: Deployment) -> None:
    contributor = deployment.browser()
    contributor.sign_in(deployment.principal, deployment.principal_secret)
    access = "/registries/team/access"
    page = contributor.get(access)
    assert page.status_code == 200
    assert "Anonymous pull" in page.text and "Assign a role" not in page.text
    form = {"role": "Owner", "assignee": deployment.principal}
    refused = contributor.post("/registries/team/role-assignments", form, from_page=access)
    assert refused.status_code == 403
    gone = contributor.post(
        "/registries/team/role-assignments/delete", {"assignment": "1"}, from_page=access
    )
    assert gone.status_code == 403
    # The management API refuses a Contributor the same.
    api = deployment.http.get(
        "/api/v1/registries/team/role-assignments",
        headers=basic(deployment.principal, deployment.principal_secret),
    )
    assert api.status_code == 403
    assert contributor.get("/registries/other/access").status_code == 404


def test_a_reader_is_refused_the_access_pages(deployment: Deployment) -> None:
    reader = _principal(deployment, "Reader")
    assert reader.get("/registries/team").status_code == 200
    assert reader.get("/registries/team/access").status_code == 403
    on = {"enabled": "true"}
    assert reader.post("/registries/team/anonymous-pull", on).status_code == 403
    repo = {"repository": "app", "enabled": "true"}
    assert reader.post("/registries/team/repositories/anonymous-pull", repo).status_code == 403
    role = {"role": "AcrPull", "assignee": deployment.principal}
    assert reader.post("/registries/team/role-assignments", role).status_code == 403
    assert reader.post("/registries/other/anonymous-pull", on).status_code == 404
    token = {"token": "builder", "password": "password1"}
    assert reader.post("/registries/team/tokens/password", token).status_code == 403
    edit = reader.get("/registries/team/scope-maps/edit?scope_map=_repositories_pull")
    assert edit.status_code == 403
    # A registry's admin user manages nothing: the Access page is refused to it too.
    answer = deployment.http.patch(
        "/api/v1/registries/other", json={"adminUserEnabled": True}, headers=deployment.admin
    )
    admin_user = deployment.browser()
    assert admin_user.sign_in("other", answer.json()["passwords"][0]["value"]).status_code == 303
    assert admin_user.get("/registries/other/access").status_code == 403
    assert admin_user.get("/principals").status_code == 403
    assert admin_user.post("/registries/other/anonymous-pull", on).status_code == 403


def test_anonymous_pull_of_the_registry_and_of_one_repository(deployment: Deployment) -> None:
    _push(deployment, "apps/web")
    _push(deployment, "apps/db")
    anonymous = _anonymous(deployment, "team")
    assert anonymous.get("/v2/apps/web/tags/list").status_code == 401
    contributor = deployment.browser()
    contributor.sign_in(deployment.principal, deployment.principal_secret)
    access = "/registries/team/access"
    on = contributor.post("/registries/team/anonymous-pull", {"enabled": "true"}, from_page=access)
    assert on.status_code == 303
    assert anonymous.get("/v2/apps/web/tags/list").status_code == 200
    assert "is <strong>on</strong>" in contributor.get(access).text
    off = contributor.post(
        "/registries/team/anonymous-pull", {"enabled": "false"}, from_page=access
    )
    assert off.status_code == 303
    assert anonymous.get("/v2/apps/web/tags/list").status_code == 401
    repo = {"repository": "apps/web", "enabled": "true"}
    opened = contributor.post(
        "/registries/team/repositories/anonymous-pull", repo, from_page=access
    )
    assert opened.status_code == 303
    assert anonymous.get("/v2/apps/web/tags/list").status_code == 200
    assert anonymous.get("/v2/apps/db/tags/list").status_code == 401
    assert "Close apps/web to anonymous pull" in contributor.get(access).text
    repo["enabled"] = "false"
    closed = contributor.post(
        "/registries/team/repositories/anonymous-pull", repo, from_page=access
    )
    assert closed.status_code == 303
    assert anonymous.get("/v2/apps/web/tags/list").status_code == 401


def test_bad_access_input_gets_a_clear_page_not_a_500(deployment: Deployment) -> None:
    browser = _admin(deployment)
    access = "/registries/team/access"
    principals = "/principals"
    for path, form, status, source in (
        ("/principals", {"principal": ""}, 400, principals),
        ("/principals", {"principal": "x", "expiry_days": "soon"}, 400, principals),
        ("/principals", {"principal": "x", "expiry_days": "0"}, 400, principals),
        ("/principals", {"principal": "x", "expiry_days": "²"}, 400, principals),
        ("/principals/secrets", {"principal": "nope"}, 404, principals),
        ("/principals/delete", {"principal": "nope"}, 404, principals),
        ("/registries/team/anonymous-pull", {"enabled": "maybe"}, 400, access),
        ("/registries/team/repositories/anonymous-pull", _repo("UPPER"), 400, access),
        ("/registries/team/repositories/anonymous-pull", _repo("missing"), 404, access),
        ("/registries/team/role-assignments", _role("Boss", deployment.principal), 400, access),
        ("/registries/team/role-assignments", _role("AcrPull", "someone"), 400, access),
        (
            "/registries/team/role-assignments",
            {**_role("AcrPull", deployment.principal), "repositories": "Bad//name"},
            400,
            access,
        ),
        (
            "/registries/team/role-assignments",
            {**_role("AcrPull", deployment.principal), "assignee_type": "robot"},
            400,
            access,
        ),
        ("/registries/team/role-assignments/delete", {"assignment": "one"}, 400, access),
        ("/registries/team/role-assignments/delete", {"assignment": "99999"}, 404, access),
    ):
        answer = browser.post(path, form, from_page=source)
        assert answer.status_code == status, (path, form, answer.text[:500])
        assert "Portside" in answer.text  # a page of the portal, not a bare error


def _repo(name: str) -> dict[str, str]:
    return {"repository": name, "enabled": "true"}


def _role(role: str, assignee: str) -> dict[str, str]:
    return {"role": role, "assignee": assignee}


def test_a_token_is_rebound_and_its_password_generated_with_an_expiry(
    deployment: Deployment,
) -> None:
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    tokens = "/registries/team/tokens"
    made = {"token": "builder", "scope_map": "_repositories_pull", "expiry_days": "30"}
    created = browser.post(tokens, made, from_page=tokens)
    assert created.status_code == 201, created.text
    assert "(expires " in browser.get(tokens).text
    rebind = {"token": "builder", "scope_map": "_repositories_push"}
    answer = browser.post("/registries/team/tokens/scope-map", rebind, from_page=tokens)
    assert answer.status_code == 303
    api = deployment.http.get("/api/v1/registries/team/tokens/builder", headers=deployment.admin)
    assert api.json()["scopeMap"] == "_repositories_push", api.text
    missing = {"token": "builder", "scope_map": "nosuchmap"}
    assert browser.post(f"{tokens}/scope-map", missing, from_page=tokens).status_code == 404
    password = {"token": "builder", "password": "password2", "expiry_days": "7"}
    generated = browser.post(f"{tokens}/password", password, from_page=tokens)
    assert generated.status_code == 201 and "shown this once" in generated.text
    assert _SECRET.search(generated.text) is not None
    assert "data-secret" not in browser.get(tokens).text
    for bad, status in (
        ({**password, "password": "password3"}, 400),
        ({**password, "expiry_days": "forever"}, 400),
        ({**password, "token": "nobody"}, 404),
    ):
        assert browser.post(f"{tokens}/password", bad, from_page=tokens).status_code == status
    deleted = browser.post(f"{tokens}/password/delete", password, from_page=tokens)
    assert deleted.status_code == 303
    api = deployment.http.get("/api/v1/registries/team/tokens/builder", headers=deployment.admin)
    assert [p["name"] for p in api.json()["credentials"]["passwords"]] == ["password1"]
    again = browser.post(f"{tokens}/password/delete", password, from_page=tokens)
    assert again.status_code == 404


def test_a_scope_maps_actions_are_edited(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    tokens = "/registries/team/tokens"
    form = {"scope_map": "readers", "repository": "team/*", "content/read": "on"}
    assert browser.post("/registries/team/scope-maps", form, from_page=tokens).status_code == 303
    assert "Edit scope map readers" in browser.get(tokens).text
    edit = "/registries/team/scope-maps/edit?scope_map=readers"
    page = browser.get(edit).text
    assert "repositories/team/*/content/read" in page
    change = {
        "scope_map": "readers",
        "remove-1": "repositories/team/*/content/read",
        "repository": "team/web",
        "metadata/read": "on",
        "content/read": "on",
        "description": "web readers",
    }
    saved = browser.post("/registries/team/scope-maps/edit", change, from_page=edit)
    assert saved.status_code == 303, saved.text
    api = deployment.http.get(
        "/api/v1/registries/team/scope-maps/readers", headers=deployment.admin
    )
    assert sorted(api.json()["actions"]) == [
        "repositories/team/web/content/read",
        "repositories/team/web/metadata/read",
    ]
    assert api.json()["description"] == "web readers"
    for bad, status in (
        ({"scope_map": "readers", "content/read": "on"}, 400),
        ({"scope_map": "readers", "repository": "team/x"}, 400),
        ({"scope_map": "readers", "repository": "Bad Name", "content/read": "on"}, 400),
        ({"scope_map": "_repositories_pull", "description": "mine"}, 400),
        ({"scope_map": "nosuchmap"}, 404),
    ):
        answer = browser.post("/registries/team/scope-maps/edit", bad, from_page=edit)
        assert answer.status_code == status, (bad, answer.text[:300])
    system = browser.get("/registries/team/scope-maps/edit?scope_map=_repositories_pull")
    assert system.status_code == 200 and "cannot be changed" in system.text
    assert browser.get("/registries/team/scope-maps/edit?scope_map=nosuch").status_code == 404
