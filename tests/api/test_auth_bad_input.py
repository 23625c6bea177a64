"""Hostile input to the access step and the token service: never a 500, always an OCI error.

One app per metadata backend (PostgreSQL refuses what SQLite stores, NUL characters above all).
Malformed credentials answer 401, malformed requests 400, with `{"errors": [{"code": ...}]}`;
afterwards the image pushed first still pulls byte for byte.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.auth.identity import NULL_GUID
from portside.config import Settings
from portside.metadata.migrate import upgrade
from tests.api.identities import (
    CONTOSO,
    OidcIssuer,
    Params,
    Response,
    World,
    basic,
    claims_of,
    get_token,
    headers,
    operator,
    push_image,
    seed,
)
from tests.backends.postgres import BACKENDS, empty_database
from tests.registry_client import digest_of

PULL = "repository:team/app:pull"
FORM = "application/x-www-form-urlencoded"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass
class Target:
    """The app under attack and the image that must survive it."""

    client: TestClient
    digest: str
    manifest: bytes


@pytest.fixture(scope="module", params=BACKENDS)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """An app over each backend, with team/app pushed; lockouts out of the way."""
    tmp = tmp_path_factory.mktemp(f"bad-{request.param}")
    with empty_database(request.param, request.config, tmp) as url:
        upgrade(url)
        settings = Settings(
            data_dir=tmp / "data",
            database_url=url,
            anonymous_loopback=False,
            login_max_failures=1_000_000,
            trusted_issuers=(OidcIssuer().trusted(tmp / "jwks.json"),),
        )
        seed(settings)
        with TestClient(create_app(settings), base_url="http://localhost") as client:
            digest, manifest = push_image(client, operator(), "team/app")
            yield Target(client, digest, manifest)


def _error(response: Response, status: int) -> str:
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    assert isinstance(errors[0]["message"], str)
    return str(errors[0]["code"])


def _raw(host: str, authorization: str | bytes) -> dict[bytes, bytes]:
    """Headers as bytes, so that anything can be sent."""
    value = authorization if isinstance(authorization, bytes) else authorization.encode("latin-1")
    return {b"Host": host.encode(), b"Authorization": value}


BAD_AUTHORIZATION: dict[str, str | bytes] = {
    "basic-no-value": "Basic",
    "basic-blank": "Basic    ",
    "basic-not-base64": "Basic !!!not*base64!!!",
    "basic-bad-padding": "Basic dXNlcjpwYXNz=",
    "basic-no-colon": "Basic " + _b64(b"no-colon-here"),
    "basic-10k": "Basic " + _b64(b"u:" + b"p" * 10_000),
    "basic-utf8-garbage": "Basic " + _b64(b"\xff\xfe\xfd:\xc3\x28"),
    "basic-nul-user": "Basic " + _b64(b"rw\x00token:pw"),
    "basic-control-user": "Basic " + _b64(b"rw\ntoken\x1b:pw"),
    "basic-empty-user-and-password": "Basic " + _b64(b":"),
    "basic-empty-password": "Basic " + _b64(b"rw-token:"),
    "basic-long-user": "Basic " + _b64(b"x" * 4000 + b":pw"),
    "basic-unicode-user": "Basic " + _b64("rw-tökén😀:pw".encode()),
    "basic-null-guid-junk": basic(NULL_GUID, "junk"),
    "basic-null-guid-jwt-junk": basic(NULL_GUID, "a.b.c"),
    "basic-latin1-bytes": b"Basic \xff\xfe\xe9",
    "bearer-no-value": "Bearer",
    "bearer-junk": "Bearer junk",
    "bearer-a.b.c": "Bearer a.b.c",
    "bearer-dots": "Bearer ...",
    "bearer-alg-none-empty": "Bearer eyJhbGciOiJub25lIn0.e30.",
    "bearer-json-junk": "Bearer " + _b64(b'{"alg":"ES256","kid":[1]}') + ".e30.c2ln",
    "bearer-huge": "Bearer " + "a" * 9000 + ".b.c",
    "unknown-scheme": "Digest username=rw-token",
    "negotiate": "Negotiate YIIBhgYGKwYBBQUCoII=",
    "scheme-only-space": " ",
}


@pytest.mark.parametrize("path", ["/v2/", "/v2/team/app/manifests/v1", "/v2/_catalog"])
@pytest.mark.parametrize("value", list(BAD_AUTHORIZATION), ids=list(BAD_AUTHORIZATION))
def test_malformed_authorization_on_v2(target: Target, value: str, path: str) -> None:
    sent = _raw(CONTOSO, BAD_AUTHORIZATION[value])
    response = target.client.get(path, headers=sent)
    assert _error(response, 401) == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="http://contoso.localhost/'
    )


@pytest.mark.parametrize("value", list(BAD_AUTHORIZATION), ids=list(BAD_AUTHORIZATION))
def test_malformed_authorization_on_token_endpoint(target: Target, value: str) -> None:
    sent = _raw(CONTOSO, BAD_AUTHORIZATION[value])
    if value == "scheme-only-space":  # no credentials at all: an anonymous token
        return
    response = target.client.get("/oauth2/token", params={"scope": PULL}, headers=sent)
    assert _error(response, 401) == "UNAUTHORIZED"


ABSURD_SCOPES: dict[str, list[str]] = {
    "colons": [":::"],
    "empty-parts": ["repository::pull"],
    "no-actions": ["repository:team/app:"],
    "no-colon": ["repository"],
    "hundred": [f"repository:r{i}:pull" for i in range(100)],
    "hundred-in-one": [" ".join(f"repository:r{i}:pull" for i in range(100))],
    "5000-chars": ["repository:" + "a" * 5000 + ":pull"],
    "uppercase-name": ["repository:UPPER:pull"],
    "unknown-type": ["plugin:team/app:pull"],
    "bad-action": ["repository:team/app:pull;drop"],
    "nul": ["repository:team/app:pull\x00"],
    "registry-junk": ["registry:../etc:*"],
    "path-traversal": ["repository:../team/app:pull"],
}


@pytest.mark.parametrize("scopes", list(ABSURD_SCOPES), ids=list(ABSURD_SCOPES))
def test_absurd_scopes_are_refused(target: Target, scopes: str) -> None:
    login = basic(*World.login("contoso"))
    got = get_token(target.client, ABSURD_SCOPES[scopes], login)
    assert _error(got, 400) == "UNSUPPORTED"
    form: Params = [("grant_type", "password"), ("service", CONTOSO)]
    form += [("username", "contoso"), ("password", World.login("contoso")[1])]
    form += [("scope", scope) for scope in ABSURD_SCOPES[scopes]]
    posted = _post(target, "/oauth2/token", str(httpx.QueryParams(form)))
    assert _error(posted, 400) == "UNSUPPORTED"


def test_harmless_odd_scopes_grant_nothing(target: Target) -> None:
    login = basic(*World.login("ro-token"))
    scopes = ["registry:catalog:push", "repository:team/app:nonsense", "repository:nope:pull"]
    response = get_token(target.client, scopes, login)
    assert response.status_code == 200
    assert claims_of(response.json()["access_token"])["access"] == []


def _post(target: Target, path: str, body: bytes | str, content_type: str = FORM) -> Response:
    sent = {**headers(), "Content-Type": content_type}
    return target.client.post(path, content=body, headers=sent)


REFUSED_FORMS: dict[str, tuple[str, bytes | str, str, int]] = {
    "grant-type-missing": ("/oauth2/token", "service=contoso.localhost", FORM, 400),
    "grant-type-unknown": ("/oauth2/token", "grant_type=client_credentials", FORM, 400),
    "grant-type-case": ("/oauth2/token", "grant_type=PASSWORD", FORM, 400),
    "refresh-missing": ("/oauth2/token", "grant_type=refresh_token", FORM, 400),
    "refresh-junk": ("/oauth2/token", "grant_type=refresh_token&refresh_token=junk", FORM, 401),
    "refresh-abc": ("/oauth2/token", "grant_type=refresh_token&refresh_token=a.b.c", FORM, 401),
    "password-without-password": ("/oauth2/token", "grant_type=password&username=x", FORM, 401),
    "password-without-user": ("/oauth2/token", "grant_type=password&password=x", FORM, 401),
    "password-nul-user": (
        "/oauth2/token",
        "grant_type=password&username=a%00b&password=x",
        FORM,
        401,
    ),
    "password-junk-refresh": (
        "/oauth2/token",
        "grant_type=password&refresh_token=junk",
        FORM,
        401,
    ),
    "wrong-service": ("/oauth2/token", "grant_type=password&service=evil.example", FORM, 400),
    "quoted-service": ("/oauth2/token", 'grant_type=password&service=a"b', FORM, 400),
    "other-registry-service": (
        "/oauth2/token",
        "grant_type=password&service=fabrikam.localhost",
        FORM,
        400,
    ),
    "json-body": ("/oauth2/token", '{"grant_type": "password"}', "application/json", 400),
    "text-body": ("/oauth2/token", "grant_type=password", "text/plain", 400),
    "no-content-type": ("/oauth2/token", "grant_type=password", "", 400),
    "multipart": (
        "/oauth2/token",
        b'--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
        400,
    ),
    "binary-garbage": ("/oauth2/token", bytes(range(256)) * 4, FORM, 400),
    "huge-form": ("/oauth2/token", "grant_type=password&x=" + "a" * 70_000, FORM, 400),
    "exchange-grant-missing": ("/oauth2/exchange", "access_token=x", FORM, 400),
    "exchange-token-missing": ("/oauth2/exchange", "grant_type=access_token", FORM, 400),
    "exchange-junk-token": (
        "/oauth2/exchange",
        "grant_type=access_token&access_token=junk",
        FORM,
        401,
    ),
    "exchange-abc-token": (
        "/oauth2/exchange",
        "grant_type=access_token&access_token=a.b.c",
        FORM,
        401,
    ),
    "exchange-wrong-service": (
        "/oauth2/exchange",
        "grant_type=access_token&access_token=x&service=evil",
        FORM,
        400,
    ),
    "exchange-json": ("/oauth2/exchange", '{"grant_type":"access_token"}', "application/json", 400),
}


@pytest.mark.parametrize("case", list(REFUSED_FORMS), ids=list(REFUSED_FORMS))
def test_refused_token_requests(target: Target, case: str) -> None:
    path, body, content_type, status = REFUSED_FORMS[case]
    code = _error(_post(target, path, body, content_type), status)
    assert code == {400: "UNSUPPORTED", 401: "UNAUTHORIZED"}[status]


def test_refresh_grant_refuses_an_access_token(target: Target) -> None:
    access = get_token(target.client, [PULL], basic(*World.login("contoso"))).json()["token"]
    body = f"grant_type=refresh_token&service={CONTOSO}&refresh_token={access}"
    assert _error(_post(target, "/oauth2/token", body), 401) == "UNAUTHORIZED"
    assert _error(
        _post(target, "/oauth2/exchange", f"grant_type=access_token&access_token={access}"), 401
    )


def test_invalid_content_length_is_refused(target: Target) -> None:
    for length in (b"abc", b"-1", b"1e3", "²".encode("latin-1")):
        sent = {
            b"Host": CONTOSO.encode(),
            b"Content-Type": FORM.encode(),
            b"Content-Length": length,
        }
        response = target.client.post("/oauth2/token", content=b"grant_type=password", headers=sent)
        assert _error(response, 400) == "UNSUPPORTED"


@pytest.mark.parametrize("host", ['a"b', "contoso.localhost/x", "contoso.localhost:x", "", " "])
def test_odd_hosts_reach_no_registry(target: Target, host: str) -> None:
    login = basic(*World.login("contoso"))
    for path in ("/v2/", "/oauth2/token"):
        response = target.client.get(path, headers={"Host": host, "Authorization": login})
        assert _error(response, 404) == "NAME_UNKNOWN"


def test_image_survives_byte_identical(target: Target) -> None:
    sent = headers(authorization=basic(*World.login("ro-token")))
    manifest = target.client.get(f"/v2/team/app/manifests/{target.digest}", headers=sent)
    assert manifest.status_code == 200 and manifest.content == target.manifest
    tagged = target.client.get("/v2/team/app/manifests/v1", headers=sent)
    assert tagged.content == target.manifest
    layer = b"layer of team/app:v1"
    blob = target.client.get(f"/v2/team/app/blobs/{digest_of(layer)}", headers=sent)
    assert blob.status_code == 200 and blob.content == layer
