"""Signing in and out of the portal, its sessions, CSRF and security headers."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.portal.conftest import Deployment
from tests.portal.portal_client import ADMIN_PASSWORD, csrf_of


def test_pages_need_a_session_and_the_administrator_signs_in(deployment: Deployment) -> None:
    browser = deployment.browser()
    answer = browser.get("/registries")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/portal/signin")
    signed = browser.sign_in("admin", ADMIN_PASSWORD)
    assert signed.status_code == 303, signed.text
    cookie = signed.headers["set-cookie"]
    assert "portside_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    page = browser.get("/registries")
    assert page.status_code == 200
    assert "team" in page.text and "other" in page.text


def test_a_wrong_password_is_refused(deployment: Deployment) -> None:
    answer = deployment.browser().sign_in("admin", "not-it")
    assert answer.status_code == 401
    assert "invalid user name or password" in answer.text


def test_every_page_carries_a_strict_policy(deployment: Deployment) -> None:
    answer = deployment.browser().get("/signin")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert "<script" not in answer.text


def test_a_form_without_its_csrf_token_is_refused(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    answer = browser.client.post(
        "/portal/registries", data={"name": "sneaky", "csrf": "forged"}, follow_redirects=False
    )
    assert answer.status_code == 403
    missing = browser.client.post("/portal/registries", data={"name": "sneaky"})
    assert missing.status_code == 403
    listed = deployment.http.get("/api/v1/registries", headers=deployment.admin).json()
    assert "sneaky" not in {r["name"] for r in listed}


def test_sign_in_itself_needs_the_forms_token(deployment: Deployment) -> None:
    browser = deployment.browser()
    form = {"csrf": "guessed", "username": "admin", "password": ADMIN_PASSWORD}
    answer = browser.client.post("/portal/signin", data=form, follow_redirects=False)
    assert answer.status_code == 403


def test_sign_out_ends_the_session_on_the_server(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    cookie = browser.client.cookies["portside_session"]
    page = browser.get("/registries")
    answer = browser.client.post(
        "/portal/signout", data={"csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303
    # The old cookie, replayed by another client, no longer opens anything.
    replay = deployment.browser()
    replay.client.cookies.set("portside_session", cookie)
    assert replay.get("/registries").status_code == 303


def test_a_renewed_secret_ends_the_sessions_it_opened(deployment: Deployment) -> None:
    browser = deployment.browser()
    assert browser.sign_in(deployment.principal, deployment.principal_secret).status_code == 303
    assert browser.get("/registries/team").status_code == 200
    answer = deployment.http.post(
        f"/api/v1/service-principals/{deployment.principal}/credentials",
        json={"reset": True},
        headers=deployment.admin,
    )
    assert answer.status_code in (200, 201), answer.text
    stale = browser.get("/registries/team")
    assert stale.status_code == 303
    assert stale.headers["location"].startswith("/portal/signin")


def test_a_made_up_session_cookie_opens_nothing(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.client.cookies.set("portside_session", "x" * 43)
    assert browser.get("/registries").status_code == 303


def test_cookies_are_secure_over_https(deployment: Deployment) -> None:
    browser = TestClient(deployment.http.app, base_url="https://localhost")
    page = browser.get("/portal/signin")
    assert "Secure" in page.headers["set-cookie"]
    form = {"csrf": csrf_of(page.text), "username": "admin", "password": ADMIN_PASSWORD}
    signed = browser.post("/portal/signin", data=form, follow_redirects=False)
    assert signed.status_code == 303
    session = [c for c in signed.headers.get_list("set-cookie") if "portside_session=" in c]
    assert session and "Secure" in session[0] and "Path=/portal" in session[0]


def test_signing_in_again_ends_the_browsers_earlier_session(deployment: Deployment) -> None:
    browser = deployment.browser()
    browser.sign_in("admin", ADMIN_PASSWORD)
    first = browser.client.cookies["portside_session"]
    browser.sign_in(deployment.principal, deployment.principal_secret)
    assert browser.client.cookies["portside_session"] != first
    replay = deployment.browser()
    replay.client.cookies.set("portside_session", first)
    assert replay.get("/registries").status_code == 303
