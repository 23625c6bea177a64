"""The audit log over HTTP: pushes, deletes, management changes, logins and refused logins are
recorded with who, where from, what and how it ended; the management API reads them with
filters and pages, to each registry's managers only; no secret is ever stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.schema import audit_log
from tests.api.identities import (
    CONTOSO,
    FABRIKAM,
    OPERATOR,
    SP_PUSH,
    OidcIssuer,
    World,
    basic,
    bearer_for,
    exchange,
    get_token,
    make_settings,
    refresh_basic,
    seed,
)
from tests.api.identities import push_image as push_with
from tests.registry_client import push_image

ADMIN_PASSWORD = "deployment-admin-Pa55word"
API = "/api/v1"
ADMIN = basic("admin", ADMIN_PASSWORD)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Credentials required everywhere; a known administrator password."""
    return make_settings(tmp_path, admin_password=ADMIN_PASSWORD)


@pytest.fixture
def world(settings: Settings) -> World:
    """The seeded registries (contoso, fabrikam) and identities."""
    return seed(settings)


@pytest.fixture
def client(settings: Settings, world: World) -> Iterator[TestClient]:
    """The whole application, as served."""
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client


def read_audit(
    client: TestClient, path: str, authorization: str = ADMIN, **params: Any
) -> dict[str, Any]:
    """One page of an audit route (answer 200)."""
    response = client.get(f"{API}{path}", params=params, headers={"Authorization": authorization})
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def records(client: TestClient, registry: str, **params: Any) -> list[dict[str, Any]]:
    """A registry's records, newest first (the first page)."""
    found: list[dict[str, Any]] = read_audit(client, f"/registries/{registry}/audit", **params)[
        "value"
    ]
    return found


def one(found: list[dict[str, Any]], **fields: object) -> dict[str, Any]:
    """The one record having `fields`."""
    matching = [r for r in found if all(r.get(k) == v for k, v in fields.items())]
    assert len(matching) == 1, (fields, found)
    return matching[0]


def test_changes_and_logins_are_recorded_with_who_what_and_how(
    client: TestClient, settings: Settings
) -> None:
    rw_password = World.login("rw-token")[1]
    rw = basic("rw-token", rw_password)
    admin_user = basic(*World.login("contoso"))
    bearer = bearer_for(client, ["repository:team/app:pull,push"], rw)
    client.headers.update({"Host": CONTOSO, "Authorization": bearer, "X-Request-Id": "push-1"})
    digest, _ = push_image(client, "team/app", "v1")
    client.headers.update({"Authorization": admin_user, "X-Request-Id": "delete-1"})
    assert client.delete(f"/v2/team/app/manifests/{digest}").status_code == 202
    del client.headers["X-Request-Id"]
    client.headers.pop("Authorization")
    refused = get_token(client, ["repository:team/app:pull"], basic("rw-token", "wrong-guess"))
    assert refused.status_code == 401
    changed = client.patch(
        f"{API}/registries/contoso",
        json={"anonymousPullEnabled": True},
        headers={"Authorization": ADMIN},
    )
    assert changed.status_code == 200, changed.text
    # Reads and anonymous requests are not recorded.
    client.headers["Authorization"] = bearer
    assert client.get("/v2/team/app/tags/list").status_code == 200
    client.headers.pop("Authorization")
    assert client.get("/v2/").status_code == 401

    found = records(client, "contoso")
    pushed = one(found, action="manifest.push")
    assert pushed["identityKind"] == "token" and pushed["identity"] == "rw-token"
    assert pushed["target"] == f"team/app:v1@{digest}"
    assert (pushed["outcome"], pushed["status"]) == ("success", 201)
    assert pushed["registry"] == "contoso" and pushed["requestId"] == "push-1"
    assert pushed["client"] == "testclient"
    blobs = [r for r in found if r["action"] == "upload.start"]
    assert len(blobs) == 2 and all(r["target"].startswith("team/app@sha256:") for r in blobs)
    deleted = one(found, action="manifest.delete")
    assert (deleted["identityKind"], deleted["identity"]) == ("admin", "contoso")
    assert deleted["target"] == f"team/app@{digest}" and deleted["status"] == 202
    assert deleted["requestId"] == "delete-1"
    login = one(found, action="login", outcome="success")
    assert (login["identityKind"], login["identity"]) == ("token", "rw-token")
    assert login["target"] == "/oauth2/token" and login["status"] == 200
    denied = one(found, action="login", outcome="denied")
    assert (denied["identityKind"], denied["identity"], denied["status"]) == (
        "token",
        "rw-token",
        401,
    )
    update = one(found, action="registries.update")
    assert (update["identityKind"], update["identity"]) == ("deployment", "admin")
    assert update["target"] == "/registries/contoso" and update["status"] == 200
    assert len(found) == 7, [r["action"] for r in found]
    times = [r["time"] for r in found]
    assert times == sorted(times, reverse=True)

    secrets = [rw_password, World.login("contoso")[1], ADMIN_PASSWORD, "wrong-guess"]
    secrets += [bearer.removeprefix("Bearer "), admin_user.removeprefix("Basic ")]
    stored = repr(stored_rows(settings))
    assert "rw-token" in stored
    for secret in secrets:
        assert secret not in stored


def stored_rows(settings: Settings) -> list[tuple[Any, ...]]:
    """Every column of every stored audit record."""

    async def read() -> list[tuple[Any, ...]]:
        db = Database(settings.resolved_database_url())
        try:
            async with db.read() as conn:
                return [tuple(row) for row in (await conn.execute(select(audit_log))).all()]
        finally:
            await db.close()

    return asyncio.run(read())


def test_filters_and_pages(client: TestClient) -> None:
    for attempt in range(3):
        get_token(client, [], basic("ro-token", f"wrong-{attempt}"), host=CONTOSO)
    client.patch(
        f"{API}/registries/contoso",
        json={"immutableTagsEnabled": True},
        headers={"Authorization": ADMIN},
    )
    assert len(records(client, "contoso")) == 4
    assert [r["action"] for r in records(client, "contoso", action="registries")] == [
        "registries.update"
    ]
    assert len(records(client, "contoso", action="login")) == 3
    assert len(records(client, "contoso", identity="token:ro-token")) == 3
    assert len(records(client, "contoso", identity="admin")) == 1
    assert records(client, "contoso", identity="sp:ro-token") == []
    assert len(records(client, "contoso", since="1h")) == 4
    assert records(client, "contoso", since="2999-01-01T00:00:00Z") == []

    first = read_audit(client, "/registries/contoso/audit", n=3)
    assert len(first["value"]) == 3 and first["nextLink"].endswith(
        f"last={first['value'][-1]['id']}"
    )
    assert first["nextLink"].startswith(f"{API}/registries/contoso/audit?")
    rest = client.get(first["nextLink"], headers={"Authorization": ADMIN}).json()
    assert len(rest["value"]) == 1 and "nextLink" not in rest
    ids = [r["id"] for r in first["value"] + rest["value"]]
    assert ids == [r["id"] for r in records(client, "contoso")]

    for params in (
        {"since": "last tuesday"},
        {"since": "999999999w"},
        {"last": "99999"},
        {"last": str(1 << 64)},
        {"n": "0"},
        {"n": "1001"},
        {"last": "x"},
    ):
        bad = client.get(
            f"{API}/registries/contoso/audit", params=params, headers={"Authorization": ADMIN}
        )
        assert bad.status_code == 400, (params, bad.text)


def test_a_registry_s_managers_read_its_log_and_no_other(client: TestClient) -> None:
    get_token(client, [], basic("contoso", "wrong-password"), host=CONTOSO)
    get_token(client, [], basic("fabrikam", "wrong-password"), host=FABRIKAM)
    operator = basic(*World.login(OPERATOR))  # Owner of contoso only

    mine = read_audit(client, "/registries/contoso/audit", operator)["value"]
    assert {r["registry"] for r in mine} == {"contoso"}
    assert [r["identity"] for r in mine] == ["contoso"]
    theirs = records(client, "fabrikam")
    assert [r["identity"] for r in theirs] == ["fabrikam"]
    for path in ("/registries/fabrikam/audit", "/registries/nowhere/audit", "/audit"):
        refused = client.get(f"{API}{path}", headers={"Authorization": operator})
        assert refused.status_code == 403, (path, refused.text)
    # A registry's own identities have no management access at all.
    admin_user = basic(*World.login("contoso"))
    refused = client.get(f"{API}/registries/contoso/audit", headers={"Authorization": admin_user})
    assert refused.status_code == 401
    missing = client.get(f"{API}/registries/nowhere/audit", headers={"Authorization": ADMIN})
    assert missing.status_code == 404
    # The administrator reads the whole deployment, or one name of it.
    everything = read_audit(client, "/audit")["value"]
    assert {"contoso", "fabrikam"} <= {r["registry"] for r in everything}
    assert {r["registry"] for r in read_audit(client, "/audit", registry="fabrikam")["value"]} == {
        "fabrikam"
    }


def test_refused_management_sign_ins_are_in_the_deployment_log(client: TestClient) -> None:
    wrong = basic("admin", "not-the-password")
    assert client.get(f"{API}/registries", headers={"Authorization": wrong}).status_code == 401
    anonymous = client.get(f"{API}/registries")
    assert anonymous.status_code == 401
    created = client.post(
        f"{API}/service-principals", json={"name": "ci"}, headers={"Authorization": ADMIN}
    )
    assert created.status_code == 201
    found = read_audit(client, "/audit")["value"]
    denied = one(found, action="login")
    assert (denied["identityKind"], denied["identity"], denied["outcome"]) == (
        "deployment",
        "admin",
        "denied",
    )
    assert denied["registry"] == "" and denied["status"] == 401
    principal = one(found, action="service-principals.create")
    assert principal["target"] == "/service-principals" and principal["registry"] == ""
    assert "not-the-password" not in repr(found)
    assert len(found) == 2


def test_basic_logins_form_logins_and_acr_changes(client: TestClient, settings: Settings) -> None:
    sp = basic(*World.login(SP_PUSH))
    assert client.get("/v2/", headers={"Host": CONTOSO, "Authorization": sp}).status_code == 200
    digest, _ = push_with(client, sp, "team/web", "v2")
    form = {"grant_type": "password", "service": CONTOSO, "username": "rw-token"}
    refused = client.post(
        "/oauth2/token", data={**form, "password": "form-s3cret-guess"}, headers={"Host": CONTOSO}
    )
    assert refused.status_code == 401
    locked = client.patch(
        "/acr/v1/team/web/_tags/v2",
        json={"writeEnabled": False},
        headers={"Host": CONTOSO, "Authorization": operator_basic()},
    )
    assert locked.status_code == 200, locked.text

    found = records(client, "contoso")
    login = one(found, action="login", target="/v2/")
    assert (login["identityKind"], login["identity"], login["outcome"]) == (
        "sp",
        SP_PUSH,
        "success",
    )
    pushed = one(found, action="manifest.push")
    assert (pushed["identityKind"], pushed["identity"]) == ("sp", SP_PUSH)
    assert pushed["target"] == f"team/web:v2@{digest}"
    denied = one(found, action="login", target="/oauth2/token")
    assert (denied["identityKind"], denied["identity"], denied["outcome"]) == (
        "token",
        "rw-token",
        "denied",
    )
    tag = one(found, action="tag.update")
    assert (tag["identityKind"], tag["identity"]) == ("sp", OPERATOR)
    assert tag["target"] == "team/web:v2" and tag["status"] == 200
    assert "form-s3cret-guess" not in repr(stored_rows(settings))


def operator_basic() -> str:
    """The Owner of contoso's Basic credentials."""
    return basic(*World.login(OPERATOR))


def test_exchanges_and_refresh_logins_name_the_federated_subject(tmp_path: Path) -> None:
    idp = OidcIssuer()
    settings = make_settings(
        tmp_path,
        admin_password=ADMIN_PASSWORD,
        trusted_issuers=[idp.trusted(tmp_path / "jwks.json")],
    )
    seed(settings)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        external = idp.token(sub="release-bot")
        answered = exchange(client, external)
        assert answered.status_code == 200, answered.text
        refresh = answered.json()["refresh_token"]
        assert exchange(client, idp.token(aud="someone-else")).status_code == 401
        renewed = get_token(client, ["repository:teamx/app:pull"], refresh_basic(refresh))
        assert renewed.status_code == 200, renewed.text
        found = records(client, "contoso")
    exchanged = one(found, action="login", target="/oauth2/exchange", outcome="success")
    assert (exchanged["identityKind"], exchanged["identity"]) == ("federated", "release-bot")
    refused = one(found, action="login", target="/oauth2/exchange", outcome="denied")
    assert (refused["identityKind"], refused["identity"]) == ("federated", "")
    token = one(found, action="login", target="/oauth2/token")
    assert (token["identityKind"], token["identity"]) == ("federated", "release-bot")
    stored = repr(stored_rows(settings))
    for secret in (external, refresh, renewed.json()["access_token"]):
        assert secret not in stored
