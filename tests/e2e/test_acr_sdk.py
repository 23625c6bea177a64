"""Microsoft's azure-containerregistry SDK, unchanged, against Portside over TLS.

The credential yields tokens of a test OIDC issuer that the server trusts; the SDK exchanges
them at /oauth2/exchange for a refresh token, then for access tokens, exactly as with ACR.
"""

from __future__ import annotations

import gc
import io
import json
import ssl
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import jwt
import pytest
from azure.containerregistry import ArtifactTagOrder, ContainerRegistryClient
from azure.containerregistry.aio import ContainerRegistryClient as AsyncContainerRegistryClient
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from cryptography.hazmat.primitives.asymmetric import rsa

from portside.metadata.database import Database
from portside.metadata.principals import RoleAssignmentStore
from portside.metadata.registries import RegistryStore

from .clients import ServerProcess, free_port
from .conftest import portside_executable
from .tls import make_certificates, resolve_localhost

# The SDK's clients do not close the sessions of their internal token-exchange clients:
# `collect_sdk_sockets` collects them after each test here, where these filters apply, rather
# than let them fail whichever test runs next.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(autouse=True)
def collect_sdk_sockets() -> Iterator[None]:
    """Collect sockets the SDK left open, inside this module's warning filters."""
    yield
    gc.collect()


ISSUER = "https://login.portside.test/tenant-1/v2.0"
AUDIENCE = "https://containerregistry.portside.test"
SUBJECT = "alice@warrantydept.example"
GROUP = "registry-operators"


class IssuerCredential:
    """An azure-core TokenCredential handing out tokens of the test issuer."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A fresh token for the subject, with its group."""
        self.calls += 1
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "groups": [GROUP]}
        token = jwt.encode(
            {**claims, "iat": now, "nbf": now, "exp": now + 600},
            self._key,
            algorithm="RS256",
            headers={"kid": "test-1"},
        )
        return AccessToken(token, now + 600)


class AsyncIssuerCredential(IssuerCredential):
    """The same, for the aio client."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # type: ignore[override]
        """A fresh token."""
        return IssuerCredential.get_token(self, *scopes, **kwargs)

    async def close(self) -> None:
        """Nothing to close."""

    async def __aenter__(self) -> AsyncIssuerCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        registries = RegistryStore(db)
        contoso = await registries.create("contoso")
        assert contoso is not None
        await RoleAssignmentStore(db).create(
            contoso.id, "group", GROUP, "Owner", "*", issuer=ISSUER
        )
        public = await registries.create("public", anonymous_pull=True)
        assert public is not None
        await RoleAssignmentStore(db).create(
            public.id, "subject", SUBJECT, "AcrPush", "*", issuer=ISSUER
        )
    finally:
        await db.close()


@pytest.fixture(scope="module")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Portside over TLS trusting the test issuer, with registries contoso and public."""
    workdir = tmp_path_factory.mktemp("sdk")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    (workdir / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "test-1"}]}))
    certs = make_certificates(workdir, "contoso.localhost", "public.localhost", "localhost")
    port = free_port()
    (workdir / "portside.toml").write_text(
        "[portside]\n"
        "anonymous_loopback = false\n"
        "[[portside.trusted_issuers]]\n"
        f'issuer = "{ISSUER}"\naudience = "{AUDIENCE}"\njwks_file = "{workdir / "jwks.json"}"\n'
    )
    data_dir = workdir / "data"
    argv = [portside_executable(), "serve", "--port", str(port), "--data-dir", str(data_dir)]
    argv += ["--config", str(workdir / "portside.toml"), "--workers", "2"]
    argv += ["--tls-cert", str(certs.cert), "--tls-key", str(certs.key)]
    log = workdir / "server.log"
    server = ServerProcess.start("tls portside", argv, log, cwd=workdir, env={})
    try:
        trust = ssl.create_default_context(cafile=str(certs.ca))
        server.wait_ready(
            lambda: httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust).is_success
        )
        anyio.run(_seed, f"sqlite+aiosqlite:///{(data_dir / 'portside.db').resolve()}")
        with resolve_localhost():
            yield {"port": port, "ca": str(certs.ca), "key": key, "log": log}
    finally:
        server.stop()
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


def _client(server: dict[str, Any], name: str, credential: Any) -> ContainerRegistryClient:
    return ContainerRegistryClient(
        f"https://{name}.localhost:{server['port']}",
        credential,
        audience=AUDIENCE,
        connection_verify=server["ca"],
    )


def _push_image(client: ContainerRegistryClient, repository: str, tag: str) -> str:
    config = json.dumps(
        {"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    config_digest, config_size = client.upload_blob(repository, io.BytesIO(config))
    layer = b"layer bytes of " + tag.encode()
    layer_digest, layer_size = client.upload_blob(repository, io.BytesIO(layer))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer_size,
            }
        ],
    }
    return client.set_manifest(repository, manifest, tag=tag)


def test_sdk_sync_round_trip(sdk_server: dict[str, Any]) -> None:
    credential = IssuerCredential(sdk_server["key"])
    with _client(sdk_server, "contoso", credential) as client:
        first = _push_image(client, "warrantydept/web", "v1")
        time.sleep(1.1)
        second = _push_image(client, "warrantydept/web", "v2")
        _push_image(client, "warrantydept/api", "v1")
        assert sorted(client.list_repository_names()) == ["warrantydept/api", "warrantydept/web"]
        newest_first = [
            t.name
            for t in client.list_tag_properties(
                "warrantydept/web", order_by=ArtifactTagOrder.LAST_UPDATED_ON_DESCENDING
            )
        ]
        assert newest_first == ["v2", "v1"]
        props = client.get_manifest_properties("warrantydept/web", "v1")
        assert (
            props.digest == first
            and props.architecture == "arm64"
            and props.operating_system == "linux"
        )
        # Locks: a write-disabled manifest cannot be deleted until it is unlocked.
        locked = client.update_manifest_properties(
            "warrantydept/web", first, can_write=False, can_delete=False
        )
        assert locked.can_write is False and locked.can_delete is False
        with pytest.raises(HttpResponseError):
            client.delete_manifest("warrantydept/web", first)
        client.update_manifest_properties(
            "warrantydept/web", first, can_write=True, can_delete=True
        )
        fetched = client.get_manifest("warrantydept/web", "v2")
        assert fetched.digest == second
        layer_digest = fetched.manifest["layers"][0]["digest"]
        stream = client.download_blob("warrantydept/web", layer_digest)
        assert b"".join(stream) == b"layer bytes of v2"
        client.delete_tag("warrantydept/web", "v2")
        assert [t.name for t in client.list_tag_properties("warrantydept/web")] == ["v1"]
        client.delete_manifest("warrantydept/web", first)
        with pytest.raises(ResourceNotFoundError):
            client.get_manifest_properties("warrantydept/web", first)
        client.delete_repository("warrantydept/api")
        assert "warrantydept/api" not in list(client.list_repository_names())
    assert credential.calls >= 1


def test_sdk_aio_lists_and_reads(sdk_server: dict[str, Any]) -> None:
    async def main() -> list[str]:
        credential = AsyncIssuerCredential(sdk_server["key"])
        async with AsyncContainerRegistryClient(
            f"https://contoso.localhost:{sdk_server['port']}",
            credential,
            audience=AUDIENCE,
            connection_verify=sdk_server["ca"],
        ) as client:
            names = [name async for name in client.list_repository_names()]
            for name in names:
                props = await client.get_repository_properties(name)
                assert props.name == name
            return names

    assert "warrantydept/web" in anyio.run(main)


def test_sdk_anonymous_pull(sdk_server: dict[str, Any]) -> None:
    with _client(sdk_server, "public", IssuerCredential(sdk_server["key"])) as pusher:
        digest = _push_image(pusher, "shared/base", "latest")
    with _client(sdk_server, "public", None) as anonymous:
        assert anonymous.get_manifest("shared/base", "latest").digest == digest
        # Anonymous pull lets the SDK list and read metadata too, as ACR's does.
        assert "shared/base" in list(anonymous.list_repository_names())
        tags = list(anonymous.list_tag_properties("shared/base"))
        assert [(t.name, t.digest) for t in tags] == [("latest", digest)]
        assert anonymous.get_repository_properties("shared/base").tag_count == 1
        with pytest.raises(HttpResponseError):
            _push_image(anonymous, "shared/base", "mine")
        with pytest.raises(HttpResponseError):
            anonymous.update_manifest_properties("shared/base", digest, can_delete=False)
    # Another registry's content is not reachable anonymously.
    with _client(sdk_server, "contoso", None) as anonymous, pytest.raises(HttpResponseError):
        anonymous.get_manifest("warrantydept/web", "v1")
