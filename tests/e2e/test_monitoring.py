"""A real `portside serve --workers 2`: every scrape sums both workers; JSON log lines."""

from __future__ import annotations

import hashlib
import json

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .clients import ServerProcess, free_port, remove_tree
from .conftest import portside_executable, short_tmpdir


def sample(url: str, name: str, **labels: str) -> float:
    """One sample of one scrape of the server (0 if absent)."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def healthz_count(url: str) -> float:
    """The server's count of answered GET /healthz, as one scrape sees it."""
    return sample(url, "portside_http_requests_total", route="/healthz", method="GET", status="200")


def test_two_workers_one_sum_and_json_logs() -> None:
    workdir = short_tmpdir("portside-monitoring-")
    private_tmp = workdir / "tmp"
    private_tmp.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [portside_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--data-dir", str(workdir / "data"), "--workers", "2"]
    env = {
        "PORTSIDE_LOG_FORMAT": "json",
        "PORTSIDE_ACCESS_LOG": "true",
        "PORTSIDE_ADMIN_PASSWORD": "monitoring-admin-password",
        "TMPDIR": str(private_tmp),
    }
    log_path = workdir / "server.log"
    server = ServerProcess.start("portside", argv, log_path, env=env)
    try:
        server.wait_ready(lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200)
        during = list(private_tmp.glob("portside-metrics-*"))
        assert len(during) == 1 and (during[0].stat().st_mode & 0o777) == 0o700
        base = healthz_count(url)
        ids = []
        for _ in range(20):  # a new connection each: the kernel spreads them over the workers
            answer = httpx.get(f"{url}/healthz", timeout=5)
            ids.append(answer.headers["X-Request-Id"])
        # Whichever worker answers the scrape, it counts the requests of both.
        assert {healthz_count(url) - base for _ in range(6)} == {20.0}
        # A blob the server sends from a file itself (zero copy) is counted at its length.
        blob = b"z" * 100_000
        digest = f"sha256:{hashlib.sha256(blob).hexdigest()}"
        pushed = httpx.post(f"{url}/v2/m/blobs/uploads/", params={"digest": digest}, content=blob)
        assert pushed.status_code == 201
        assert httpx.get(f"{url}/v2/m/blobs/{digest}").content == blob
        route = "/v2/{name}/blobs/{digest}"
        assert sample(url, "portside_http_response_bytes_total", route=route) == len(blob)
        assert sample(url, "portside_uploads_in_progress") == 0
    finally:
        server.stop()
    assert list(private_tmp.glob("portside-metrics-*")) == []  # removed at exit
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    access = {
        line.get("request_id"): line for line in parsed if line["logger"] == "portside.access"
    }
    assert all(access[i]["route"] == "/healthz" and access[i]["status"] == 200 for i in ids)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in parsed)
    assert "monitoring-admin-password" not in log_path.read_text()
    remove_tree(workdir)  # left for inspection when something above failed
