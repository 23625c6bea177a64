"""A real `portside serve --workers 2`: every scrape sums both workers; JSON log lines."""

from __future__ import annotations

import json

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .clients import ServerProcess, free_port, remove_tree
from .conftest import portside_executable, short_tmpdir


def healthz_count(url: str) -> float:
    """The server's count of answered GET /healthz, as one scrape sees it."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "portside_http_requests_total" and sample.labels == {
                "route": "/healthz",
                "method": "GET",
                "status": "200",
            }:
                return sample.value
    return 0.0


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
