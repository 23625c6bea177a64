"""GET /metrics: counters that move with traffic, labelled by route template; who may scrape."""

from __future__ import annotations

import base64
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from tests.registry_client import digest_of, push_image

MANIFESTS = "/v2/{name}/manifests/{reference}"
UPLOADS = "/v2/{name}/blobs/uploads/"
UPLOAD = "/v2/{name}/blobs/uploads/{uuid}"


def scrape(
    client: TestClient, **headers: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples of one scrape: (name, labels) -> value."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """A sample's value, 0 if absent (a labelled counter appears on its first increment)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_push_moves_the_counters(client: TestClient) -> None:
    before = scrape(client)
    _, body = push_image(client, "team/app", "v1", layers=[b"x" * 1000])
    # A chunked upload too: the in-progress gauge rises and falls around each request.
    start = client.post("/v2/team/app/blobs/uploads/")
    assert start.status_code == 202
    chunk = b"y" * 3000
    patched = client.patch(start.headers["Location"], content=chunk)
    assert patched.status_code == 202
    done = client.put(patched.headers["Location"], params={"digest": digest_of(chunk)})
    assert done.status_code == 201
    pulled = client.get("/v2/team/app/manifests/v1")
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "portside_http_requests_total"
    assert moved(requests, route=MANIFESTS, method="PUT", status="201") == 1
    assert moved(requests, route=MANIFESTS, method="GET", status="200") == 1
    assert moved(requests, route=UPLOADS, method="POST", status="201") == 2  # config, layer
    assert moved(requests, route=UPLOAD, method="PATCH", status="202") == 1
    # Never the raw path: no label carries the repository name.
    assert not any("team/app" in v for (_, labels) in after for _, v in labels)
    assert moved("portside_http_request_bytes_total", route=MANIFESTS) == len(body)
    assert moved("portside_http_request_bytes_total", route=UPLOAD) == len(chunk)
    assert moved("portside_http_response_bytes_total", route=MANIFESTS) == len(pulled.content)
    assert value(after, "portside_uploads_in_progress") == 0
    count = "portside_http_request_duration_seconds_count"
    assert moved(count, route=MANIFESTS, method="PUT") == 1
    # The seams below: database transactions and storage driver calls were timed.
    assert moved("portside_database_transaction_duration_seconds_count", kind="write") > 0
    assert moved("portside_database_transaction_duration_seconds_count", kind="read") > 0
    storage = "portside_storage_call_duration_seconds_count"
    assert moved(storage, operation="upload_commit", outcome="ok") == 3
    assert moved(storage, operation="upload_append", outcome="ok") >= 3


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    after = scrape(client)
    assert (
        value(after, "portside_http_requests_total", route="unmatched", method="GET", status="404")
        == 2
    )


def test_management_routes_are_labelled_with_their_mount(settings: Settings) -> None:
    password = "management-password-for-metrics"
    admin = settings.model_copy(update={"admin_password": password})
    basic = base64.b64encode(f"admin:{password}".encode()).decode()
    with TestClient(create_app(admin), base_url="http://localhost") as client:
        assert (
            client.get(
                "/api/v1/registries", headers={"Authorization": f"Basic {basic}"}
            ).status_code
            == 200
        )
        assert client.get("/api/v1/registries").status_code == 401
        samples = scrape(client)
    requests = "portside_http_requests_total"
    assert value(samples, requests, route="/api/v1/registries", method="GET", status="200") == 1
    # Refused before the management API's routing: labelled by the mount, not "unmatched".
    assert value(samples, requests, route="/api/v1/{path}", method="GET", status="401") == 1


def test_failed_logins_are_counted(client: TestClient) -> None:
    wrong = base64.b64encode(b"admin:wrong-password").decode()
    before = scrape(client)
    response = client.get(
        "/oauth2/token",
        params={"service": "localhost", "scope": "repository:a/b:pull"},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert response.status_code == 401
    after = scrape(client)
    assert (
        value(after, "portside_login_failures_total")
        - value(before, "portside_login_failures_total")
        == 1
    )


def test_background_job_runs_are_counted(settings: Settings) -> None:
    often = settings.model_copy(
        update={"gc_interval_seconds": 0.05, "lifecycle_interval_seconds": 0.05}
    )
    with TestClient(create_app(often), base_url="http://localhost") as client:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            samples = scrape(client)
            gc = value(samples, "portside_job_runs_total", job="gc", outcome="ran")
            lifecycle = value(samples, "portside_job_runs_total", job="lifecycle", outcome="ran")
            if gc and lifecycle:
                break
            time.sleep(0.05)
        assert gc >= 1 and lifecycle >= 1


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("Bearer metrics-s3cret-but-longer", 401),
        ("Basic " + base64.b64encode(b"admin:metrics-s3cret").decode(), 401),
        ("Bearer metrics-s3cret", 200),
    ],
)
def test_a_metrics_token_is_required_when_set(
    settings: Settings, authorization: str | None, status: int
) -> None:
    guarded = settings.model_copy(update={"metrics_token": "metrics-s3cret"})
    headers = {"Authorization": authorization} if authorization else {}
    with TestClient(create_app(guarded), base_url="http://localhost") as client:
        response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "portside_http_requests_total" not in response.text


def test_without_a_token_metrics_are_not_served_beyond_loopback(settings: Settings) -> None:
    public = settings.model_copy(update={"host": "0.0.0.0"})
    with TestClient(create_app(public), base_url="http://localhost") as client:
        assert client.get("/metrics").status_code == 404
    with TestClient(
        create_app(public.model_copy(update={"metrics_token": "t0ken"})),
        base_url="http://localhost",
    ) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_the_token_never_shows_in_the_settings_repr(settings: Settings) -> None:
    assert "metrics-s3cret" not in repr(
        settings.model_copy(update={"metrics_token": "metrics-s3cret"})
    )


def test_throttled_answers_are_counted(settings: Settings) -> None:
    strict = settings.model_copy(update={"login_max_failures": 1, "login_lockout_seconds": 60})
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:wrong-password").decode()}
    params = {"service": "localhost", "scope": "repository:a/b:pull"}
    with TestClient(create_app(strict), base_url="http://localhost") as client:
        statuses = [
            client.get("/oauth2/token", params=params, headers=wrong).status_code for _ in range(3)
        ]
        samples = scrape(client)
    assert 429 in statuses
    throttled = value(samples, "portside_throttled_requests_total", route="/oauth2/token")
    assert throttled == statuses.count(429)
