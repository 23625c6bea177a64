"""The trusted issuers page: the administrator lists, adds and removes issuers and sets their
portal client; others are refused, as by the management API; bad input gets the form back."""

from __future__ import annotations

import json

from tests.oidc_provider import OidcProvider
from tests.portal.conftest import Deployment
from tests.portal.portal_client import ADMIN_PASSWORD, PortalClient, basic

ISSUERS = "/api/v1/trusted-issuers"


def _admin(deployment: Deployment) -> PortalClient:
    browser = deployment.browser()
    assert browser.sign_in("admin", ADMIN_PASSWORD).status_code == 303
    return browser


def _jwks() -> str:
    with OidcProvider() as provider:
        return json.dumps(provider.jwks())


def _form(**fields: str) -> dict[str, str]:
    base = {
        "name": "corp",
        "issuer": "https://login.corp.example/v2.0",
        "audience": "api://portside",
        "jwks": _jwks(),
        "portal_client_id": "portside-portal",
        "portal_client_secret": "client-secret-1",
    }
    return base | fields


def test_the_administrator_adds_lists_and_removes_an_issuer(deployment: Deployment) -> None:
    browser = _admin(deployment)
    assert "Trusted issuers" in browser.get("/registries").text
    answer = browser.post("/issuers", _form(), from_page="/issuers")
    assert answer.status_code == 303, answer.text
    page = browser.get("/issuers").text
    assert "https://login.corp.example/v2.0" in page and "portside-portal" in page
    assert "secret set" in page and "client-secret-1" not in page
    stored = deployment.http.get(f"{ISSUERS}/corp", headers=deployment.admin).json()
    assert stored["portalClientId"] == "portside-portal" and stored["portalClientSecretSet"]
    assert "Sign in with corp" in deployment.browser().get("/signin").text
    answer = browser.post("/issuers/corp/portal", {"portal_client_id": ""}, from_page="/issuers")
    assert answer.status_code == 303
    stored = deployment.http.get(f"{ISSUERS}/corp", headers=deployment.admin).json()
    assert stored.get("portalClientId") is None and not stored["portalClientSecretSet"]
    assert browser.post("/issuers/corp/delete", {}, from_page="/issuers").status_code == 303
    assert deployment.http.get(f"{ISSUERS}/corp", headers=deployment.admin).status_code == 404


def test_bad_input_gets_the_form_back(deployment: Deployment) -> None:
    browser = _admin(deployment)
    cases = [
        (_form(name="Bad Name"), 400, "name must be"),
        (_form(jwks="{not json"), 400, "JWK set"),
        (_form(jwks="", jwks_url=""), 400, "exactly one of jwksUrl and jwks"),
        (_form(jwks_url="ftp://keys.example"), 400, "jwksUrl"),
    ]
    for form, status, reason in cases:
        answer = browser.post("/issuers", form, from_page="/issuers")
        assert answer.status_code == status, answer.text
        assert reason in answer.text and "client-secret-1" not in answer.text
        assert 'value="https://login.corp.example/v2.0"' in answer.text
    assert browser.post("/issuers", _form(), from_page="/issuers").status_code == 303
    again = browser.post("/issuers", _form(), from_page="/issuers")
    assert again.status_code == 409 and "exists already" in again.text


def test_a_form_without_its_csrf_token_is_refused(deployment: Deployment) -> None:
    browser = _admin(deployment)
    answer = browser.client.post("/portal/issuers", data=_form() | {"csrf": "forged"})
    assert answer.status_code == 403
    listed = deployment.http.get(ISSUERS, headers=deployment.admin).json()
    assert listed == []


def test_only_the_administrator_sees_or_changes_issuers(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in(deployment.principal, deployment.principal_secret)
    assert "Trusted issuers" not in browser.get("/registries").text
    assert browser.get("/issuers").status_code == 403
    answer = browser.post("/issuers", _form())
    assert answer.status_code == 403
    assert browser.post("/issuers/corp/delete", {}).status_code == 403
    # The management API refuses it the same.
    api = deployment.http.get(
        ISSUERS, headers=basic(deployment.principal, deployment.principal_secret)
    )
    assert api.status_code == 403
