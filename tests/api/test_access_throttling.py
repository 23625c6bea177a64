"""Login throttling over HTTP: per user name and client address; refresh tokens never lock.

The app is wrapped so that each request says which address it comes from (`X-Test-Client`),
as the ASGI server would put it in the scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from portside.api.app import create_app
from portside.auth.identity import NULL_GUID
from portside.config import Settings
from tests.api.identities import (
    World,
    basic,
    get_token,
    headers,
    make_settings,
    refresh_basic,
    seed,
)

ATTACKER, USER = "203.0.113.66", "198.51.100.7"


class _ClientAddress:
    """Sets the scope's client address from the request's `X-Test-Client` header."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-test-client":
                    scope = {**scope, "client": (value.decode(), 40000)}
        await self._app(scope, receive, send)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Credentials required everywhere."""
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app, seeded, behind the address-setting wrapper."""
    seed(settings)
    with TestClient(
        _ClientAddress(create_app(settings)), base_url="http://localhost"
    ) as test_client:
        yield test_client


def _v2(client: TestClient, address: str, authorization: str) -> int:
    sent = headers(authorization=authorization) | {"X-Test-Client": address}
    return client.get("/v2/", headers=sent).status_code


def test_a_guesser_locks_out_only_its_own_address(client: TestClient) -> None:
    user, password = World.login("rw-token")
    for _ in range(10):
        assert _v2(client, ATTACKER, basic(user, "guess")) == 401
    assert _v2(client, ATTACKER, basic(user, "guess")) == 429
    # One address cannot go on guessing the name, not even with the right password...
    assert _v2(client, ATTACKER, basic(user, password)) == 429
    # ...and the user at another address is not locked out.
    assert _v2(client, USER, basic(user, password)) == 200
    token = get_token(client, [], basic(user, password)).status_code
    assert token == 200  # the test client's own address is not locked either


def test_failed_refresh_tokens_lock_nobody_out(client: TestClient) -> None:
    for _ in range(15):
        assert _v2(client, ATTACKER, basic(NULL_GUID, "junk")) == 401
        assert _v2(client, ATTACKER, basic(NULL_GUID, "a.b.c")) == 401
    login = basic(*World.login("contoso"))
    refresh = get_token(client, [], login, offline_token="true").json()["refresh_token"]
    assert _v2(client, ATTACKER, refresh_basic(refresh)) == 200
    assert _v2(client, USER, refresh_basic(refresh)) == 200


def test_management_sign_in_locks_out_only_the_guessing_address(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin_password="management-secret-1")
    seed(settings)
    with TestClient(
        _ClientAddress(create_app(settings)), base_url="http://localhost"
    ) as test_client:

        def registries(address: str, password: str) -> int:
            sent = headers(authorization=basic("admin", password)) | {"X-Test-Client": address}
            return test_client.get("/api/v1/registries", headers=sent).status_code

        for _ in range(10):
            assert registries(ATTACKER, "guess") == 401
        assert registries(ATTACKER, "management-secret-1") == 429
        assert registries(USER, "management-secret-1") == 200
