"""THE security matrix: identities by ways of presenting them by actions by repositories.

Every cell is a real HTTP request against one app (registry `contoso`), and every cell is
asserted, allowed or denied. What each identity may do is written down below as data
(`IDENTITIES`); the cells are generated from it. Each identity is presented as:

- `none`: no credentials (anonymous only);
- `basic`: Basic credentials on the request itself;
- `bearer`: Docker's token flow first (`/oauth2/token`, or the refresh grant), then Bearer;
- `jwt`: a Bearer token built by the test (a genuine re-signed control, and forgeries).

Actions: pull (GET manifest), push (POST upload and PUT manifest), delete (DELETE manifest),
metadata read (GET /acr/v1/<name>) and the catalog. Allowed: pull 200, push 202 (upload) and
201 (manifest), delete 202, metadata 200, catalog 200 (listing what the caller may see).
Denied: 401 for missing, bad or forged credentials and for bearer tokens lacking the scope (with
`error="insufficient_scope"`), 403 for good Basic credentials lacking the permission.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.auth.tokens import SigningKey
from portside.config import Settings
from portside.metadata.database import Database
from portside.metadata.records import SigningKeyRecord
from portside.metadata.registries import RegistryStore
from portside.metadata.signing_keys import SigningKeyStore
from tests.api.identities import (
    CONTOSO,
    FABRIKAM,
    SP_DELETE,
    SP_PULL,
    SP_PUSH,
    SP_READER,
    OidcIssuer,
    Response,
    World,
    basic,
    claims_of,
    exchange,
    get_token,
    headers,
    make_settings,
    operator,
    push_image,
    refresh_basic,
    run_db,
    seed,
)
from tests.registry_client import OCI_MANIFEST

REPOS = ("team/app", "team/app2", "team/sub/deep", "teamx/app", "other")
TEAM = ("team/app", "team/app2", "team/sub/deep")  # what `team/*` covers (not teamx/app)
ACTIONS = ("pull", "push", "delete", "metadata_read")
CATALOG = ("catalog", "-")
Cell = tuple[str, str]


def grant(actions: str, repos: Iterable[str], catalog: bool = True) -> frozenset[Cell]:
    """Cells allowing each of `actions` (space-separated) on each of `repos`, and the catalog."""
    cells = {(action, repo) for action in actions.split() for repo in repos}
    return frozenset(cells | ({CATALOG} if catalog else set()))


NOTHING: frozenset[Cell] = frozenset()
EVERYTHING = grant("pull push delete metadata_read", REPOS)
BOTH = ("basic", "bearer")


@dataclass(frozen=True)
class Who:
    """An identity, what it may do in contoso, how it is presented, whether its login is good."""

    name: str
    allowed: frozenset[Cell]
    variants: tuple[str, ...] = BOTH
    login_valid: bool = True


IDENTITIES = (
    Who("anonymous", NOTHING, ("none", "bearer")),
    Who("admin", EVERYTHING),
    Who("admin-disabled", NOTHING, login_valid=False),
    Who("token-team-rw", grant("pull push", TEAM)),
    Who("token-app-ro", grant("pull", ["team/app"])),
    Who("token-disabled", NOTHING, login_valid=False),
    Who("token-other-password", grant("pull", TEAM)),
    Who("token-expired-password", NOTHING, login_valid=False),
    Who("sp-acrpull-all", grant("pull", REPOS)),
    Who("sp-acrpush-team", grant("pull push", TEAM)),
    Who("sp-acrdelete-app", grant("delete", ["team/app"])),
    Who("sp-reader-all", grant("pull metadata_read", REPOS)),
    Who("federated-group", grant("pull push", ["teamx/app"])),
    Who("fabrikam-admin", NOTHING, login_valid=False),
    Who("jwt-genuine-control", EVERYTHING, ("jwt",)),
    Who("jwt-tampered-payload", NOTHING, ("jwt",)),
    Who("jwt-expired", NOTHING, ("jwt",)),
    Who("jwt-alg-none", NOTHING, ("jwt",)),
    Who("jwt-for-fabrikam", NOTHING, ("jwt",)),
    Who("jwt-wrong-audience", NOTHING, ("jwt",)),
    Who("jwt-unknown-key", NOTHING, ("jwt",)),
    Who("jwt-forged-signature", NOTHING, ("jwt",)),
)
LOGINS = {
    "admin": World.login("contoso"),
    "admin-disabled": World.login("contoso"),
    "token-team-rw": World.login("rw-token"),
    "token-app-ro": World.login("ro-token"),
    "token-disabled": World.login("off-token"),
    "token-other-password": World.login("aging-token", "password2"),
    "token-expired-password": World.login("aging-token", "password1"),
    "sp-acrpull-all": World.login(SP_PULL),
    "sp-acrpush-team": World.login(SP_PUSH),
    "sp-acrdelete-app": World.login(SP_DELETE),
    "sp-reader-all": World.login(SP_READER),
    "fabrikam-admin": World.login("fabrikam"),
}
BY_NAME = {who.name: who for who in IDENTITIES}
TARGETS = [(action, repo) for action in ACTIONS for repo in REPOS] + [CATALOG]
CELLS = [
    (who.name, variant, action, repo)
    for who in IDENTITIES
    for variant in who.variants
    for action, repo in TARGETS
]
# What a caller's catalog lists: the repositories it may pull or read the metadata of.
VISIBLE = {
    who.name: sorted(
        repo for repo in REPOS if {("pull", repo), ("metadata_read", repo)} & who.allowed
    )
    for who in IDENTITIES
}
# 36 presented identities, each on 4 actions x 5 repositories + the catalog.
EXPECTED_CELLS = 36 * 21


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Matrix:
    """The running app, the seeded identities, and what forging tokens needs."""

    client: TestClient
    settings: Settings
    world: World
    federated_refresh: str
    key: SigningKey
    manifests: dict[str, tuple[str, bytes]]

    def prepare(self, repo: str) -> None:
        """Make sure the repository holds its image (a delete cell may have removed it)."""
        response = self.client.head(
            f"/v2/{repo}/manifests/v1", headers=headers(authorization=operator())
        )
        if response.status_code == 404:
            self.manifests[repo] = push_image(self.client, operator(), repo)
        else:
            assert response.status_code == 200, response.text

    def set_admin(self, enabled: bool) -> None:
        """Enable or disable contoso's admin user."""

        async def update(db: Database) -> None:
            assert await RegistryStore(db).update("contoso", {"admin_enabled": enabled})

        run_db(self.settings, update)

    def token(self, who: Who, scope: str) -> Response:
        """The token endpoint's answer for `who` (password, refresh or anonymous)."""
        if who.name == "federated-group":
            form = {"grant_type": "refresh_token", "service": CONTOSO, "scope": scope}
            form["refresh_token"] = self.federated_refresh
            return self.client.post("/oauth2/token", data=form, headers=headers())
        login = basic(*LOGINS[who.name]) if who.name in LOGINS else None
        return get_token(self.client, [scope], login)

    def forged(self, who: Who, scope: str) -> str:
        """A test-made token for `scope`: a real admin token's claims, re-signed or broken."""
        if who.name == "jwt-for-fabrikam":
            answer = get_token(self.client, [scope], basic(*LOGINS["fabrikam-admin"]), FABRIKAM)
            return str(answer.json()["access_token"])
        real = get_token(self.client, [scope], basic(*LOGINS["admin"])).json()["access_token"]
        claims = claims_of(real)
        assert claims["access"], "the admin token grants the scope"
        if who.name == "jwt-tampered-payload":
            narrow = get_token(self.client, [scope], basic(*LOGINS["token-app-ro"]))
            header, _, signature = str(narrow.json()["access_token"]).split(".")
            wide: list[dict[str, object]] = [
                {"type": "repository", "name": r, "actions": sorted(ACTIONS)} for r in REPOS
            ]
            wide.append({"type": "registry", "name": "catalog", "actions": ["*"]})
            tampered = {**claims_of(narrow.json()["access_token"]), "access": wide}
            return f"{header}.{_b64(tampered)}.{signature}"
        now = int(time.time())
        claims |= {"iat": now, "nbf": now, "exp": now + 300}
        if who.name == "jwt-expired":
            claims |= {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}
        if who.name == "jwt-wrong-audience":
            # Signed with the real key and naming contoso's id, but for fabrikam's service.
            claims |= {"aud": FABRIKAM}
        if who.name == "jwt-alg-none":
            return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': self.key.kid})}.{_b64(claims)}."
        signer, kid = self.key.private_key, self.key.kid
        if who.name in ("jwt-unknown-key", "jwt-forged-signature"):
            stranger = SigningKey.generate("ES256", now=self.key.created_at)
            signer = stranger.private_key
            kid = stranger.kid if who.name == "jwt-unknown-key" else self.key.kid
        assert isinstance(signer, ec.EllipticCurvePrivateKey)
        return jwt.encode(claims, signer, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """One app for every cell; lockouts and rate limits are out of the way (test_access.py and
    test_rate_limits.py cover them): the cells send more than a minute's writes."""
    tmp: Path = tmp_path_factory.mktemp("matrix")
    idp = OidcIssuer()
    settings = make_settings(
        tmp,
        trusted_issuers=(idp.trusted(tmp / "jwks.json"),),
        login_max_failures=1_000_000,
        request_rate_limits=False,
    )
    world = seed(settings)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        refresh = exchange(client, idp.token()).json()["refresh_token"]

        async def signing_key(db: Database) -> SigningKeyRecord:
            return (await SigningKeyStore(db).list())[0]

        record = run_db(settings, signing_key)
        assert record.algorithm == "ES256"
        key = SigningKey(record.kid, "ES256", record.private_pem, record.created_at)
        manifests = {repo: push_image(client, operator(), repo) for repo in REPOS}
        yield Matrix(client, settings, world, refresh, key, manifests)


def _scope(action: str, repo: str) -> str:
    if action == "catalog":
        return "registry:catalog:*"
    return f"repository:{repo}:{'pull,push' if action == 'push' else action}"


def _perform(matrix: Matrix, action: str, repo: str, auth: str | None) -> list[Response]:
    client, sent = matrix.client, headers(authorization=auth)
    if action == "pull":
        return [client.get(f"/v2/{repo}/manifests/v1", headers=sent)]
    if action == "push":
        start = client.post(f"/v2/{repo}/blobs/uploads/", headers=sent)
        body = matrix.manifests[repo][1]
        put = client.put(
            f"/v2/{repo}/manifests/v1", content=body, headers={**sent, "Content-Type": OCI_MANIFEST}
        )
        return [start, put]
    if action == "delete":
        return [client.delete(f"/v2/{repo}/manifests/{matrix.manifests[repo][0]}", headers=sent)]
    if action == "metadata_read":
        return [client.get(f"/acr/v1/{repo}", headers=sent)]
    return [client.get("/v2/_catalog", headers=sent)]


ALLOWED_STATUS = {
    "pull": [200],
    "push": [202, 201],
    "delete": [202],
    "metadata_read": [200],
    "catalog": [200],
}


@pytest.mark.parametrize(
    ("name", "variant", "action", "repo"),
    CELLS,
    ids=[f"{n}-{v}-{a}-{r.replace('/', '_')}" for n, v, a, r in CELLS],
)
def test_cell(matrix: Matrix, name: str, variant: str, action: str, repo: str) -> None:
    who = BY_NAME[name]
    allowed = (action, repo) in who.allowed
    if action != "catalog":
        matrix.prepare(repo)
    scope = _scope(action, repo)
    if name == "admin-disabled":
        matrix.set_admin(False)
    try:
        auth: str | None = None
        if variant == "basic":
            auth = refresh_basic(matrix.federated_refresh) if name == "federated-group" else None
            auth = auth or basic(*LOGINS[name])
        elif variant == "bearer":
            answer = matrix.token(who, scope)
            if not who.login_valid:
                assert answer.status_code == 401, answer.text
                assert answer.json()["errors"][0]["code"] == "UNAUTHORIZED"
                return
            assert answer.status_code == 200, answer.text
            auth = "Bearer " + answer.json()["access_token"]
        elif variant == "jwt":
            auth = "Bearer " + matrix.forged(who, scope)
        responses = _perform(matrix, action, repo, auth)
    finally:
        if name == "admin-disabled":
            matrix.set_admin(True)
    if allowed:
        assert [r.status_code for r in responses] == ALLOWED_STATUS[action], responses[0].text
        if action == "metadata_read":
            assert responses[0].json()["imageName"] == repo
        if action == "catalog":
            assert responses[0].json()["repositories"] == VISIBLE[name]
        return
    denied = 403 if variant == "basic" and who.login_valid else 401
    for response in responses:
        assert response.status_code == denied, response.text
        assert response.json()["errors"][0]["code"] == (
            "DENIED" if denied == 403 else "UNAUTHORIZED"
        )
        challenge = response.headers.get("WWW-Authenticate", "")
        assert challenge.startswith("Bearer realm=") == (denied == 401)
        insufficient = variant == "bearer"
        assert ('error="insufficient_scope"' in challenge) == insufficient


def test_matrix_size() -> None:
    allowed = sum((a, r) in BY_NAME[n].allowed for n, _, a, r in CELLS)
    print(f"security matrix: {len(CELLS)} cells, {allowed} allowed, {len(CELLS) - allowed} denied")
    assert len(CELLS) == EXPECTED_CELLS == 756
    assert len(set(CELLS)) == len(CELLS)


def test_catalog_filtering_is_exercised() -> None:
    """The catalog cells check listings that differ: everything, a part, and nothing."""
    listings = {tuple(v) for v in VISIBLE.values()}
    assert tuple(sorted(REPOS)) in listings and () in listings and len(listings) >= 4
