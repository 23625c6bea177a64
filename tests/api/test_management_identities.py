"""The management API: service principals, role assignments, and who may do what."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from portside.auth.throttle import LoginThrottle
from portside.config import Settings, TrustedIssuerSettings
from portside.metadata.credentials import CredentialStore
from tests.management_harness import API, Harness, basic, management_harness

ISSUER = "https://idp.example/v2.0"
OTHER_ISSUER = "https://other.example/v2.0"


def _trusting(settings: Settings, *issuers: str) -> Settings:
    """`settings`, trusting `issuers` (their keys are never fetched here)."""
    trusted = tuple(
        TrustedIssuerSettings(issuer=i, audience="api://portside", jwks_url=f"{i}/keys")
        for i in issuers
    )
    return settings.model_copy(update={"trusted_issuers": trusted})


@pytest.fixture
def mgmt(settings: Settings) -> Iterator[Harness]:
    """The management app over a fresh database, with registries `team1` and `team2`;
    one trusted issuer, ISSUER."""
    yield from _harness(_trusting(settings, ISSUER))


def _harness(settings: Settings) -> Iterator[Harness]:
    with management_harness(settings) as harness:
        for name in ("team1", "team2"):
            created = harness.client.post(
                f"{API}/registries", headers=harness.admin, json={"name": name}
            )
            assert created.status_code == 201
        yield harness


def test_service_principal_lifecycle(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    created = client.post(
        f"{API}/service-principals", headers=admin, json={"name": "ci", "expirationInDays": 90}
    )
    assert created.status_code == 201
    body = created.json()
    principal = body["id"]
    assert len(principal) == 36
    assert body["name"] == "ci"
    assert body["secrets"][0]["name"] == "secret1"
    assert body["secrets"][0]["expiry"]
    first = body["secrets"][0]["value"]
    listed = client.get(f"{API}/service-principals", headers=admin).json()
    assert [p["id"] for p in listed] == [principal]
    assert "value" not in listed[0]["secrets"][0]
    assert client.get(f"{API}/registries", headers=basic(principal, first)).status_code == 200

    added = client.post(f"{API}/service-principals/{principal}/credentials", headers=admin, json={})
    assert added.status_code == 201
    assert added.json()["name"] == "secret2"
    second = added.json()["value"]
    assert client.get(f"{API}/registries", headers=basic(principal, first)).status_code == 200
    assert client.get(f"{API}/registries", headers=basic(principal, second)).status_code == 200

    reset = client.post(
        f"{API}/service-principals/{principal}/credentials", headers=admin, json={"reset": True}
    ).json()
    assert reset["name"] == "secret1"
    assert client.get(f"{API}/registries", headers=basic(principal, first)).status_code == 401
    assert client.get(f"{API}/registries", headers=basic(principal, second)).status_code == 401
    assert (
        client.get(f"{API}/registries", headers=basic(principal, reset["value"])).status_code == 200
    )

    shown = client.get(f"{API}/service-principals/{principal}", headers=admin).json()
    assert [s["name"] for s in shown["secrets"]] == ["secret1"]
    assert client.delete(f"{API}/service-principals/{principal}", headers=admin).status_code == 204
    assert client.get(f"{API}/service-principals/{principal}", headers=admin).status_code == 404
    assert client.delete(f"{API}/service-principals/{principal}", headers=admin).status_code == 404
    assert client.get(f"{API}/service-principals/not-a-uuid", headers=admin).status_code == 404
    empty = client.post(f"{API}/service-principals", headers=admin, json={"name": ""})
    assert empty.status_code == 400


def test_role_assignment_lifecycle(mgmt: Harness) -> None:
    client, admin = mgmt.client, mgmt.admin
    principal, _ = mgmt.create_principal()
    created = client.post(
        f"{API}/registries/team1/role-assignments",
        headers=admin,
        json={"role": "AcrPush", "assignee": principal, "repositories": "team/*"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["registry"] == "team1"
    assert body["role"] == "AcrPush"
    assert body["assigneeType"] == "sp"
    assert body["repositories"] == "team/*"
    group = client.post(
        f"{API}/registries/team2/role-assignments",
        headers=admin,
        json={"role": "Reader", "assignee": "devs", "assigneeType": "group"},
    ).json()
    everywhere = client.get(f"{API}/role-assignments", headers=admin).json()
    assert [a["id"] for a in everywhere] == [body["id"], group["id"]]
    mine = client.get(f"{API}/role-assignments", headers=admin, params={"assignee": principal})
    assert [a["id"] for a in mine.json()] == [body["id"]]
    in_team2 = client.get(f"{API}/registries/team2/role-assignments", headers=admin).json()
    assert [a["assignee"] for a in in_team2] == ["devs"]

    wrong_registry = client.delete(
        f"{API}/registries/team2/role-assignments/{body['id']}", headers=admin
    )
    assert wrong_registry.status_code == 404
    path = f"{API}/registries/team1/role-assignments/{body['id']}"
    assert client.delete(path, headers=admin).status_code == 204
    assert client.delete(path, headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"role": "Admin", "assignee": "x"}, "unknown role"),
        ({"role": "AcrPull", "assignee": "00000000-0000-0000-0000-000000000001"}, "not a service"),
        ({"role": "AcrPull", "assignee": "someone"}, "not a service"),
        ({"role": "AcrPull", "assignee": "x", "assigneeType": "user"}, "assigneeType"),
        (
            {"role": "AcrPull", "assignee": "x", "assigneeType": "subject", "repositories": "A/*"},
            "repositories",
        ),
        ({"role": "AcrPull", "assignee": "bad\u0000", "assigneeType": "subject"}, "control"),
    ],
)
def test_bad_role_assignments(mgmt: Harness, body: dict[str, str], fragment: str) -> None:
    answer = mgmt.client.post(
        f"{API}/registries/team1/role-assignments", headers=mgmt.admin, json=body
    )
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["error"]["message"]


@pytest.fixture
def two_issuers(settings: Settings) -> Iterator[Harness]:
    """The management app trusting two issuers."""
    yield from _harness(_trusting(settings, ISSUER, OTHER_ISSUER))


def test_federated_assignments_name_their_issuer(two_issuers: Harness) -> None:
    client, admin = two_issuers.client, two_issuers.admin
    path = f"{API}/registries/team1/role-assignments"
    federated = {"role": "AcrPull", "assignee": "devs", "assigneeType": "group"}

    def post(**extra: str) -> tuple[int, dict[str, object]]:
        answer = client.post(path, headers=admin, json=federated | extra)
        return answer.status_code, answer.json()

    # Two issuers trusted: which one a name belongs to cannot be guessed.
    status, body = post()
    assert status == 400 and "issuer" in str(body)
    status, body = post(issuer="https://unknown.example")
    assert status == 400 and "not trusted" in str(body)
    status, body = post(issuer=OTHER_ISSUER)
    assert status == 201 and body["issuer"] == OTHER_ISSUER
    status, again = post(issuer=ISSUER)
    assert status == 201 and again["issuer"] == ISSUER and again["id"] != body["id"]
    principal, _ = two_issuers.create_principal()
    sp = {"role": "AcrPull", "assignee": principal, "issuer": ISSUER}
    assert client.post(path, headers=admin, json=sp).status_code == 400
    del sp["issuer"]
    listed = client.post(path, headers=admin, json=sp).json()
    assert listed["assigneeType"] == "sp" and listed.get("issuer") is None


def test_the_only_trusted_issuer_is_the_default(mgmt: Harness) -> None:
    created = mgmt.client.post(
        f"{API}/registries/team1/role-assignments",
        headers=mgmt.admin,
        json={"role": "AcrPull", "assignee": "alice", "assigneeType": "subject"},
    )
    assert created.status_code == 201 and created.json()["issuer"] == ISSUER


def test_contributor_manages_its_registry_only(mgmt: Harness) -> None:
    client = mgmt.client
    principal, secret = mgmt.create_principal()
    mgmt.assign("team1", "Contributor", principal)
    sp = basic(principal, secret)
    listed = client.get(f"{API}/registries", headers=sp).json()
    assert [r["name"] for r in listed] == ["team1"]
    assert client.get(f"{API}/registries/team1", headers=sp).status_code == 200
    update = client.patch(f"{API}/registries/team1", headers=sp, json={"adminUserEnabled": True})
    assert update.status_code == 200
    assert client.get(f"{API}/registries/team1/credentials", headers=sp).status_code == 200
    token = client.post(
        f"{API}/registries/team1/tokens",
        headers=sp,
        json={"name": "ci-token", "scopeMap": "_repositories_pull"},
    )
    assert token.status_code == 201
    scope_map = client.post(
        f"{API}/registries/team1/scope-maps",
        headers=sp,
        json={"name": "readers", "actions": ["repositories/*/content/read"]},
    )
    assert scope_map.status_code == 201
    login = client.post(f"{API}/registries/team1/login", headers=sp)
    assert login.status_code == 200
    claims = mgmt.run(partial(mgmt.keys.verify, login.json()["refreshToken"], kind="refresh_token"))
    assert (claims["kind"], claims["sub"]) == ("sp", principal)

    forbidden = [
        client.get(f"{API}/registries/team2", headers=sp),
        client.get(f"{API}/registries/nosuch", headers=sp),
        client.get(f"{API}/registries/team1/role-assignments", headers=sp),
        client.post(f"{API}/registries", headers=sp, json={"name": "team3"}),
        client.delete(f"{API}/registries/team1", headers=sp),
        client.get(f"{API}/service-principals", headers=sp),
        client.post(f"{API}/service-principals", headers=sp, json={"name": "x"}),
        client.post(f"{API}/signing-keys/rotate", headers=sp, json={}),
        client.get(f"{API}/role-assignments", headers=sp),
    ]
    for answer in forbidden:
        assert answer.status_code == 403, answer.request.url
        assert answer.json()["error"]["code"] == "AuthorizationFailed"


def test_owner_also_manages_role_assignments(mgmt: Harness) -> None:
    principal, secret = mgmt.create_principal("owner")
    other, _ = mgmt.create_principal("puller")
    mgmt.assign("team1", "Owner", principal)
    sp = basic(principal, secret)
    created = mgmt.client.post(
        f"{API}/registries/team1/role-assignments",
        headers=sp,
        json={"role": "AcrPull", "assignee": other},
    )
    assert created.status_code == 201
    listed = mgmt.client.get(f"{API}/registries/team1/role-assignments", headers=sp).json()
    assert {a["role"] for a in listed} == {"Owner", "AcrPull"}
    path = f"{API}/registries/team1/role-assignments/{created.json()['id']}"
    assert mgmt.client.delete(path, headers=sp).status_code == 204
    assert (
        mgmt.client.get(f"{API}/registries/team2/role-assignments", headers=sp).status_code == 403
    )


@pytest.mark.parametrize(
    ("role", "repositories"), [("AcrPull", "*"), ("AcrPush", "*"), ("Contributor", "team/*")]
)
def test_data_roles_and_narrowed_contributors_cannot_manage(
    mgmt: Harness, role: str, repositories: str
) -> None:
    principal, secret = mgmt.create_principal()
    mgmt.assign("team1", role, principal, repositories)
    sp = basic(principal, secret)
    assert mgmt.client.get(f"{API}/registries", headers=sp).json() == []
    assert mgmt.client.get(f"{API}/registries/team1", headers=sp).status_code == 403
    tokens = mgmt.client.get(f"{API}/registries/team1/tokens", headers=sp)
    assert tokens.status_code == 403


def test_deleting_a_principal_revokes_its_access(mgmt: Harness) -> None:
    principal, secret = mgmt.create_principal()
    mgmt.assign("team1", "Contributor", principal)
    sp = basic(principal, secret)
    assert mgmt.client.get(f"{API}/registries/team1", headers=sp).status_code == 200
    mgmt.client.delete(f"{API}/service-principals/{principal}", headers=mgmt.admin)
    assert mgmt.client.get(f"{API}/registries/team1", headers=sp).status_code == 401
    assert mgmt.client.get(f"{API}/role-assignments", headers=mgmt.admin).json() == []


def test_expired_secrets_do_not_sign_in(mgmt: Harness) -> None:
    principal, secret = mgmt.create_principal()

    async def expire() -> None:
        store = CredentialStore(mgmt.db)
        (stored,) = await store.of("sp", principal)
        past = datetime.now(UTC) - timedelta(seconds=1)
        await store.put("sp", principal, stored.name, stored.hash, expires_at=past)

    mgmt.run(expire)
    assert mgmt.client.get(f"{API}/registries", headers=basic(principal, secret)).status_code == 401


def test_failed_sign_ins_are_throttled_per_user_name(settings: Settings) -> None:
    throttle = LoginThrottle(max_failures=3, window_seconds=60, lockout_seconds=60)
    with management_harness(settings, throttle=throttle) as mgmt:
        for _ in range(3):
            answer = mgmt.client.get(f"{API}/registries", headers=basic("admin", "wrong"))
            assert answer.status_code == 401
        locked = mgmt.client.get(f"{API}/registries", headers=mgmt.admin)
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) >= 1
        assert locked.json()["error"]["code"] == "TooManyRequests"
        # Another user name is not locked out.
        other = mgmt.client.get(f"{API}/registries", headers=basic("someone", "x"))
        assert other.status_code == 401
