"""Webhooks of a real `portside serve` to a real HTTP receiver on loopback: docker and skopeo
pushes, deletes and pings arrive with ACR's payloads field by field; a failing receiver gets
the event on a retry; a redelivery keeps the id; a server killed with SIGKILL right after a
push delivers the event once it is started again on the same data directory.

The receiver listens on 127.0.0.1, so the server runs with `allow_private_network_targets`.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.registry_client import push_image
from tests.webhook_receiver import Receiver, serving

from .clients import Cli, Registry, ServerProcess, free_port, remove_tree, require_tool
from .conftest import containers_env, portside_executable, short_tmpdir
from .images import DOCKER_MANIFEST, write_docker_archive
from .test_docker import build, push

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ADMIN_PASSWORD = "e2e-webhooks-admin-4Rk8"
HOOKS = "/api/v1/registries/default/webhooks"
PAYLOAD_KEYS = {"id", "timestamp", "action", "target", "request", "actor"}
ENV = {
    "PORTSIDE_ACCESS_LOG": "true",
    "PORTSIDE_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "PORTSIDE_ALLOW_PRIVATE_NETWORK_TARGETS": "true",
    "PORTSIDE_WEBHOOK_POLL_SECONDS": "0.2",
    "PORTSIDE_WEBHOOK_RETRY_FIRST_SECONDS": "0.5",
    # Short deliveries make a short delivery lease (3 x timeout + 10 s): after a SIGKILL the
    # restarted server takes the lease over within 16 s.
    "PORTSIDE_WEBHOOK_TIMEOUT_SECONDS": "2",
}


@dataclass
class Server:
    """A `portside serve` that can be killed and started again on the same port and data."""

    workdir: Path
    port: int
    process: ServerProcess | None = None

    @property
    def registry(self) -> Registry:
        """The handle the e2e clients take."""
        host = f"127.0.0.1:{self.port}"
        return Registry("portside", host, f"http://{host}", self.workdir / "data", self.log)

    @property
    def log(self) -> Path:
        """Where every run of the server logs."""
        return self.workdir / "server.log"

    def start(self) -> None:
        """Start the server (two workers) and wait until it answers."""
        argv = [portside_executable(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--data-dir", str(self.workdir / "data"), "--workers", "2"]
        env = {**ENV, "TMPDIR": str(self.workdir / "tmp")}
        self.process = ServerProcess.start("portside", argv, self.log, env=env)
        url = self.registry.url
        self.process.wait_ready(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200)

    def kill(self) -> None:
        """SIGKILL the server and its workers at once: no shutdown runs."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server by its pid; its log must hold no traceback."""
        if self.process is not None:
            self.process.stop()
        assert "Traceback" not in self.log.read_text(), self.registry.log_tail(120)

    def api(self) -> httpx.Client:
        """A client of the server signed in as the deployment administrator."""
        return httpx.Client(base_url=self.registry.url, auth=("admin", ADMIN_PASSWORD), timeout=30)


def start_server(prefix: str) -> Server:
    """A fresh server in a scratch directory."""
    workdir = short_tmpdir(prefix)
    (workdir / "tmp").mkdir()
    server = Server(workdir, free_port())
    server.start()
    return server


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """The server the tests of this module share."""
    found = start_server("pse2e-hooks-")
    try:
        yield found
    finally:
        found.stop()
    remove_tree(found.workdir)


@pytest.fixture(scope="module", autouse=True)
def registry(server: Server) -> Registry:
    """The server's handle under the name conftest's hook attaches the log tail for."""
    return server.registry


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback."""
    with serving() as found:
        yield found


def add_hook(server: Server, name: str, uri: str, scope: str) -> None:
    """Create a push-and-delete webhook through the management API."""
    body = {"name": name, "serviceUri": uri, "actions": ["push", "delete"], "scope": scope}
    with server.api() as api:
        made = api.post(HOOKS, json=body)
    assert made.status_code == 201, made.text


def events(server: Server, name: str) -> list[dict[str, Any]]:
    """`list-events` through the management API, newest first."""
    with server.api() as api:
        found = api.get(f"{HOOKS}/{name}/events")
    assert found.status_code == 200, found.text
    listed: list[dict[str, Any]] = found.json()
    return listed


def assert_acr_payload(
    payload: dict[str, Any], action: str, target: dict[str, Any], request: dict[str, Any]
) -> None:
    """ACR's payload, field by field: what ACR's examples carry, with these values."""
    assert set(payload) == PAYLOAD_KEYS, payload
    assert uuid.UUID(payload["id"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", payload["timestamp"])
    sent = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - sent) < timedelta(minutes=2)
    assert payload["action"] == action
    assert payload["target"] == target
    assert set(payload["request"]) == {"id", "host", "method", "useragent"}
    assert payload["request"]["id"], payload["request"]
    for field, expected in request.items():
        if field == "useragent":
            assert payload["request"][field].startswith(expected), payload["request"]
        else:
            assert payload["request"][field] == expected, payload["request"]
    assert payload["actor"] == {}  # anonymous on loopback: no user name


def test_docker_push_delete_and_ping(
    server: Server, receiver: Receiver, dockerd: Cli, tmp_path: Path
) -> None:
    add_hook(server, "dockerhook", receiver.url, "hooks/docker:*")
    ref = server.registry.ref("hooks/docker", "v1")
    (tmp_path / "payload.txt").write_text("webhooks from docker\n")
    build(dockerd, tmp_path, "FROM scratch\nCOPY payload.txt /\n", ref)
    digest, output = push(dockerd, ref)
    size = int(re.search(r"size: (\d+)", output).group(1))  # type: ignore[union-attr]
    [pushed] = receiver.wait_for(1)
    host = server.registry.host
    target = {
        "mediaType": DOCKER_MANIFEST,
        "size": size,
        "digest": digest,
        "length": size,
        "repository": "hooks/docker",
        "tag": "v1",
    }
    assert_acr_payload(
        pushed, "push", target, {"host": host, "method": "PUT", "useragent": "docker/"}
    )
    headers = receiver.received[0][0]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Portside-Event-Id"] == pushed["id"]
    # The request id is the one the server's access log names for the push.
    assert pushed["request"]["id"] in server.log.read_text()

    deleted = httpx.delete(f"{server.registry.url}/v2/hooks/docker/manifests/{digest}")
    assert deleted.status_code == 202
    _, removed = receiver.wait_for(2)
    del target["tag"]  # deleted by digest: ACR names no tag
    assert_acr_payload(
        removed, "delete", target, {"host": host, "method": "DELETE", "useragent": "python-httpx"}
    )

    with server.api() as api:
        ping = api.post(f"{HOOKS}/dockerhook/ping").json()
    *_, pinged = receiver.wait_for(3)
    assert pinged == {
        "id": ping["id"],
        "timestamp": pinged["timestamp"],
        "action": "ping",
        "request": {"id": "", "host": "", "method": "", "useragent": ""},
        "actor": {},
    }
    assert [e["state"] for e in events(server, "dockerhook")] == ["delivered"] * 3


def test_skopeo_copy_and_delete(server: Server, receiver: Receiver, tmp_path: Path) -> None:
    add_hook(server, "skopeohook", receiver.url, "hooks/skopeo:v1")
    root = short_tmpdir("pse2e-hooks-skopeo-")
    (root / "tmp").mkdir()
    env = containers_env(root, server.registry)
    skopeo = Cli(
        (
            require_tool("skopeo"),
            "--insecure-policy",
            "--registries-conf",
            env["CONTAINERS_REGISTRIES_CONF"],
        ),
        env=env,
    )
    try:
        archive = write_docker_archive(
            tmp_path / "image.tar", "example.invalid/hooks:v1", [{"hook.txt": b"skopeo\n"}]
        )
        dest = f"docker://{server.registry.ref('hooks/skopeo', 'v1')}"
        digest_file = tmp_path / "digest"
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            "--digestfile",
            str(digest_file),
            f"docker-archive:{archive.path}",
            dest,
        )
        digest = digest_file.read_text().strip()
        manifest = httpx.get(
            f"{server.registry.url}/v2/hooks/skopeo/manifests/{digest}",
            headers={"Accept": DOCKER_MANIFEST},
        )
        [pushed] = receiver.wait_for(1)
        host = server.registry.host
        target = {
            "mediaType": manifest.headers["Content-Type"],
            "size": len(manifest.content),
            "digest": digest,
            "length": len(manifest.content),
            "repository": "hooks/skopeo",
            "tag": "v1",
        }
        agent = {"host": host, "useragent": "skopeo/"}
        assert_acr_payload(pushed, "push", target, {**agent, "method": "PUT"})

        skopeo("delete", "--tls-verify=false", dest)
        _, removed = receiver.wait_for(2)
        # skopeo deletes by the tag's digest; the scope's tag matches as the manifest had it.
        del target["tag"]
        assert_acr_payload(removed, "delete", target, {**agent, "method": "DELETE"})
    finally:
        remove_tree(root)


def test_a_failing_receiver_gets_the_event_on_a_retry_and_redelivery_keeps_the_id(
    server: Server, receiver: Receiver
) -> None:
    add_hook(server, "retryhook", receiver.url, "hooks/retry:*")
    receiver.statuses = [503, 500]
    with httpx.Client(base_url=server.registry.url, timeout=30) as client:
        push_image(client, "hooks/retry", "v1")  # type: ignore[arg-type]
    payloads = receiver.wait_for(3)
    assert len({p["id"] for p in payloads}) == 1
    [event] = events(server, "retryhook")
    assert (event["state"], event["attempts"], event["responseStatus"]) == ("delivered", 3, 200)
    assert event["responseBody"] == "thanks!"

    with server.api() as api:
        again = api.post(f"{HOOKS}/retryhook/events/{event['id']}/redeliver")
    assert again.status_code == 200, again.text
    *_, redelivered = receiver.wait_for(4)
    assert redelivered == payloads[0]  # the same event: id, timestamp, everything


def test_a_server_killed_right_after_a_push_delivers_after_restart(receiver: Receiver) -> None:
    server = start_server("pse2e-hooks-kill-")
    try:
        add_hook(server, "crashhook", receiver.url, "")
        with server.api() as api:
            api.post(f"{HOOKS}/crashhook/ping")
        receiver.wait_for(1)  # a delivery was made: this server holds the delivery lease
        receiver.hold = 60.0  # a delivery that starts now does not finish before the kill
        with httpx.Client(base_url=server.registry.url, timeout=30) as client:
            digest, _ = push_image(client, "crash/app", "v1")  # type: ignore[arg-type]
        server.kill()
        receiver.hold = 0.0
        assert [e["state"] for e in events_offline(server)] == ["pending", "delivered"]

        server.start()
        payloads = receiver.wait_for(2, timeout=60)
        pushes = [p for p in payloads if p["action"] == "push"]
        assert {p["target"]["digest"] for p in pushes} == {digest}
        assert len({p["id"] for p in pushes}) == 1  # sent before the kill or not: one event
        [pushed, _] = events(server, "crashhook")
        assert pushed["state"] == "delivered" and pushed["id"] == pushes[0]["id"]
    finally:
        server.stop()
    remove_tree(server.workdir)


def events_offline(server: Server) -> list[dict[str, Any]]:
    """The webhook events in the stopped server's database, newest first."""
    path = server.workdir / "data" / "portside.db"
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT state FROM webhook_events ORDER BY seq DESC").fetchall()
    return [{"state": state} for (state,) in rows]
