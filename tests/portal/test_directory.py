"""Directory (OIDC) sign-in to the portal against a fake provider on a loopback port: the flow,
every refusal, the mapping to role assignments, and the end of sessions on revocation."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from tests.api.identities import OidcIssuer
from tests.oidc_provider import OidcProvider
from tests.portal.conftest import Deployment
from tests.portal.portal_client import PortalClient
from tests.portal.test_pages import _push

ISSUERS = "/api/v1/trusted-issuers"
CALLBACK = "http://localhost/portal/signin/oidc/callback"


@dataclass
class Corp:
    """The deployment, its fake provider trusted as `corp`, and the role of group `readers`."""

    deployment: Deployment
    provider: OidcProvider
    role_id: int

    def trust(self, name: str, issuer: OidcIssuer, jwks: dict[str, Any], **more: Any) -> None:
        """Trust another issuer through the management API."""
        body = {"name": name, "issuer": issuer.issuer, "audience": issuer.audience, "jwks": jwks}
        answer = self.deployment.http.post(ISSUERS, json=body | more, headers=self.deployment.admin)
        assert answer.status_code == 201, answer.text


@pytest.fixture
def corp(deployment: Deployment) -> Iterator[Corp]:
    """Provider `corp` trusted with a portal client; group `readers` holds AcrPull on
    team's `app/web` only; team holds `app/web` and `app/api`."""
    _push(deployment, "team", "app/web", "v1")
    _push(deployment, "team", "app/api", "v1")
    with OidcProvider() as provider:
        body = {
            "name": "corp",
            "issuer": provider.issuer,
            "audience": "api://portside",
            "jwks": provider.jwks(),
            "portalClientId": provider.client_id,
        }
        answer = deployment.http.post(ISSUERS, json=body, headers=deployment.admin)
        assert answer.status_code == 201, answer.text
        assert answer.json()["portalClientId"] == provider.client_id
        role = {
            "role": "AcrPull",
            "assignee": "readers",
            "assigneeType": "group",
            "issuer": provider.issuer,
            "repositories": "app/web",
        }
        answer = deployment.http.post(
            "/api/v1/registries/team/role-assignments", json=role, headers=deployment.admin
        )
        assert answer.status_code == 201, answer.text
        yield Corp(deployment, provider, answer.json()["id"])


def start(browser: PortalClient, issuer: str = "corp") -> str:
    """Click "Sign in with corp": the provider's authorization URL the portal redirects to."""
    answer = browser.get(f"/signin/oidc?issuer={issuer}")
    assert answer.status_code == 303, answer.text
    assert "portside_oidc=" in answer.headers["set-cookie"]
    return str(answer.headers["location"])


def at_provider(authorize_url: str) -> str:
    """What the provider's page does for a signed-in user: the callback URL with the code."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = str(answer.headers["location"])
    assert location.startswith(CALLBACK + "?")
    return location


def back(browser: PortalClient, callback_url: str) -> httpx.Response:
    """The browser arriving at the portal's callback."""
    return browser.client.get(callback_url, follow_redirects=False)


def sign_in(browser: PortalClient) -> httpx.Response:
    """The whole flow."""
    return back(browser, at_provider(start(browser)))


def replay(deployment: Deployment, callback_url: str, pending: str) -> httpx.Response:
    """The callback again, with the pre-session cookie the first one was sent with (an
    attacker who copied both, or a browser's second tab)."""
    client = deployment.browser().client
    return client.get(callback_url, headers={"cookie": f"portside_oidc={pending}"})


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def _refused(answer: httpx.Response, reason: str) -> None:
    assert answer.status_code == 401, answer.text
    assert reason in answer.text, answer.text
    assert "portside_session=" not in answer.headers.get("set-cookie", "")


# The flow --------------------------------------------------------------------------------------


def test_the_sign_in_page_offers_issuers_with_a_portal_client(corp: Corp) -> None:
    page = corp.deployment.browser().get("/signin").text
    assert "Sign in with corp" in page and corp.provider.issuer in page
    other = OidcIssuer("https://other.example")
    corp.trust("nope", other, corp.provider.jwks())
    assert "Sign in with nope" not in corp.deployment.browser().get("/signin").text


def test_the_authorization_request_uses_pkce_s256_state_and_nonce(corp: Corp) -> None:
    url = start(corp.deployment.browser())
    assert url.startswith(f"{corp.provider.issuer}/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["response_type"] == "code" and query["client_id"] == "portside-portal"
    assert query["redirect_uri"] == CALLBACK
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert "openid" in query["scope"].split()


def test_a_group_with_pull_on_one_repository_sees_that_one_only(corp: Corp) -> None:
    browser = corp.deployment.browser()
    answer = sign_in(browser)
    assert answer.status_code == 200, answer.text
    assert 'http-equiv="refresh"' in answer.text
    cookie = answer.headers["set-cookie"]
    assert "portside_session=" in cookie and "samesite=strict" in cookie.lower()
    # The code went to the token endpoint with its PKCE verifier and the exact redirect URI.
    sent = corp.provider.token_requests[-1]
    assert sent["code_verifier"] and sent["redirect_uri"] == CALLBACK
    listing = browser.get("/registries").text
    assert ">team<" in listing and ">other<" not in listing
    assert "alice (directory)" in listing
    tree = browser.get("/registries/team/repositories").text
    assert "web" in tree and "api" not in tree
    # AcrPull reads no metadata: its tags page is refused as /acr/v1 refuses it.
    assert browser.get("/registries/team/tags?repository=app/web").status_code == 403
    assert browser.get("/registries/other").status_code == 404
    assert browser.get("/registries/team/tokens").status_code == 403
    assert browser.get("/issuers").status_code == 403


def test_an_identity_without_any_role_is_not_signed_in(corp: Corp) -> None:
    corp.provider.groups = ["strangers"]
    _refused(sign_in(corp.deployment.browser()), "holds no role")


def test_a_client_secret_is_sent_sealed_at_rest_and_never_shown(corp: Corp) -> None:
    http, admin = corp.deployment.http, corp.deployment.admin
    corp.provider.client_secret = "provider-client-secret-1"
    _refused(sign_in(corp.deployment.browser()), "HTTP 401")
    change = {"portalClientSecret": "provider-client-secret-1"}
    answer = http.patch(f"{ISSUERS}/corp", json=change, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["portalClientSecretSet"] is True
    assert "provider-client-secret-1" not in answer.text
    assert "provider-client-secret-1" not in http.get(ISSUERS, headers=admin).text
    assert sign_in(corp.deployment.browser()).status_code == 200


# Refusals --------------------------------------------------------------------------------------


def test_a_wrong_state_is_refused_and_spends_the_sign_in(corp: Corp) -> None:
    browser = corp.deployment.browser()
    callback = at_provider(start(browser))
    pending = browser.client.cookies["portside_oidc"]
    _refused(back(browser, _with(callback, state="forged")), "state does not match")
    _refused(replay(corp.deployment, callback, pending), "unknown, used or expired")


def test_a_state_is_used_once(corp: Corp) -> None:
    browser = corp.deployment.browser()
    callback = at_provider(start(browser))
    pending = browser.client.cookies["portside_oidc"]
    assert back(browser, callback).status_code == 200
    _refused(replay(corp.deployment, callback, pending), "unknown, used or expired")


def test_a_callback_in_another_browser_is_refused(corp: Corp) -> None:
    callback = at_provider(start(corp.deployment.browser()))
    _refused(back(corp.deployment.browser(), callback), "did not start a sign-in")


def test_a_code_issued_for_another_pkce_challenge_is_refused(corp: Corp) -> None:
    # An attacker's own code (its own challenge) pushed into the victim's callback.
    browser = corp.deployment.browser()
    callback = at_provider(start(browser))
    verifier = "attacker-verifier-" + "x" * 40
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    stolen = corp.provider.authorize(CALLBACK, challenge.rstrip(b"=").decode())
    _refused(back(browser, _with(callback, code=stolen)), "invalid_grant")


def test_the_fake_provider_refuses_a_missing_or_wrong_verifier(corp: Corp) -> None:
    token_url = f"{corp.provider.issuer}/token"
    for verifier in ("", "wrong-verifier-" + "y" * 40):
        code = corp.provider.authorize(CALLBACK, "some-challenge")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": corp.provider.client_id,
            "redirect_uri": CALLBACK,
        }
        if verifier:
            form["code_verifier"] = verifier
        answer = httpx.post(token_url, data=form)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_an_id_token_of_another_trusted_issuer_is_refused(corp: Corp) -> None:
    other = OidcIssuer("https://other-idp.example", corp.provider.client_id)
    jwks = {"keys": [k | {"kid": "idp-1"} for k in _jwks_of(other)["keys"]]}
    corp.trust("other-idp", other, jwks, portalClientId=corp.provider.client_id)
    corp.provider.signer = other
    _refused(sign_in(corp.deployment.browser()), "another issuer")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "someone-else"}, "audience"),
        ({"nonce": "replayed-nonce"}, "nonce"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
    ],
)
def test_id_tokens_that_do_not_hold_are_refused(
    corp: Corp, claims: dict[str, Any], reason: str
) -> None:
    corp.provider.claims = claims
    _refused(sign_in(corp.deployment.browser()), reason)


def test_an_unknown_issuer_or_one_without_a_portal_client_cannot_be_started(
    corp: Corp,
) -> None:
    browser = corp.deployment.browser()
    answer = browser.get("/signin/oidc?issuer=nobody")
    assert answer.status_code == 400 and "no issuer of that name" in answer.text


def test_an_issuer_refusing_the_sign_in_is_shown(corp: Corp) -> None:
    browser = corp.deployment.browser()
    callback = at_provider(start(browser))
    pending = browser.client.cookies["portside_oidc"]
    query = parse_qs(urlsplit(callback).query)
    refused = f"{CALLBACK}?error=access_denied&state={query['state'][0]}"
    _refused(back(browser, refused), "access_denied")
    _refused(replay(corp.deployment, callback, pending), "unknown, used or expired")


# Revocation ------------------------------------------------------------------------------------


def test_removing_the_issuer_ends_the_session_at_the_next_page(corp: Corp) -> None:
    browser = corp.deployment.browser()
    assert sign_in(browser).status_code == 200
    assert browser.get("/registries").status_code == 200
    http, admin = corp.deployment.http, corp.deployment.admin
    assert http.delete(f"{ISSUERS}/corp", headers=admin).status_code == 204
    answer = browser.get("/registries")
    assert answer.status_code == 303 and "/portal/signin" in answer.headers["location"]


def test_removing_the_role_ends_the_session_at_the_next_page(corp: Corp) -> None:
    browser = corp.deployment.browser()
    assert sign_in(browser).status_code == 200
    http, admin = corp.deployment.http, corp.deployment.admin
    removed = http.delete(f"/api/v1/registries/team/role-assignments/{corp.role_id}", headers=admin)
    assert removed.status_code == 204, removed.text
    answer = browser.get("/registries")
    assert answer.status_code == 303 and "/portal/signin" in answer.headers["location"]


def test_turning_portal_sign_in_off_ends_its_sessions(corp: Corp) -> None:
    browser = corp.deployment.browser()
    assert sign_in(browser).status_code == 200
    http, admin = corp.deployment.http, corp.deployment.admin
    answer = http.patch(f"{ISSUERS}/corp", json={"portalClientId": None}, headers=admin)
    assert answer.status_code == 200 and answer.json().get("portalClientId") is None
    assert browser.get("/registries").status_code == 303
    assert "Sign in with corp" not in corp.deployment.browser().get("/signin").text


def _jwks_of(issuer: OidcIssuer) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(issuer.key.public_key()))
    return {"keys": [{**jwk, "use": "sig"}]}


@pytest.mark.parametrize(
    ("asked", "landing"),
    [
        ("/portal/registries/team", "/portal/registries/team"),
        ("https://evil.example/phish", "/portal/registries"),
        ("//evil.example/phish", "/portal/registries"),
    ],
)
def test_after_signing_in_the_browser_goes_to_a_portal_page_only(
    corp: Corp, asked: str, landing: str
) -> None:
    browser = corp.deployment.browser()
    answer = browser.get(f"/signin/oidc?{urlencode({'issuer': 'corp', 'next': asked})}")
    assert answer.status_code == 303
    arrived = back(browser, at_provider(str(answer.headers["location"])))
    assert arrived.status_code == 200
    assert f'content="0;url={landing}"' in arrived.text
