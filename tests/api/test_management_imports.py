"""The import routes' answers to bad requests: clear 4xx errors, never a 500, and nothing
queued. (The imports themselves run end to end in tests/e2e/test_imports.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portside.config import Settings
from portside.services.imports.imports import parse_source
from portside.services.management.errors import Invalid
from tests.management_harness import API, Harness, management_harness


@pytest.fixture
def mgmt(settings: Settings) -> Iterator[Harness]:
    """The management app over a fresh database."""
    with management_harness(settings) as harness:
        yield harness


def post(mgmt: Harness, body: dict[str, object], registry: str = "default") -> tuple[int, str]:
    response = mgmt.client.post(
        f"{API}/registries/{registry}/imports", json=body, headers=mgmt.admin
    )
    code = response.json().get("error", {}).get("code", "") if response.content else ""
    return response.status_code, code


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"source": "no-host/repo:tag"}, 400, "InvalidRequest"),
        ({"source": "example.com/UPPER:tag"}, 400, "InvalidRequest"),
        ({"source": "example.com/repo@sha256:abc"}, 400, "InvalidRequest"),
        ({"source": "example.com/repo:tag", "targetTags": ["bad name"]}, 400, "InvalidRequest"),
        ({"source": "example.com/repo:tag", "platform": "linux"}, 400, "InvalidRequest"),
        ({"source": "http://example.com/repo:tag"}, 400, "InvalidRequest"),
        ({"source": "example.com/repo:tag", "credentialSet": "missing1"}, 404, "ResourceNotFound"),
        ({"source": "repo:tag", "sourceRegistry": "nowhere"}, 404, "ResourceNotFound"),
        (
            {"source": "repo:tag", "sourceRegistry": "default", "username": "u"},
            400,
            "InvalidRequest",
        ),
        ({"source": "127.0.0.1:1/repo:tag"}, 400, "UpstreamRefused"),
        ({"source": "10.1.2.3/repo:tag"}, 400, "UpstreamRefused"),
        ({"source": "example.com/repo:tag", "mode": "Sometimes"}, 400, "InvalidRequestContent"),
        ({"source": "x" * 700}, 400, "InvalidRequestContent"),
    ],
)
def test_bad_requests_are_refused_clearly(
    mgmt: Harness, body: dict[str, object], status: int, code: str
) -> None:
    assert post(mgmt, body) == (status, code)
    listed = mgmt.client.get(f"{API}/registries/default/imports", headers=mgmt.admin)
    assert listed.status_code == 200 and listed.json() == []


def test_unknown_registry_and_job(mgmt: Harness) -> None:
    assert post(mgmt, {"source": "example.com/a:b"}, registry="nowhere")[0] == 404
    missing = mgmt.client.get(f"{API}/registries/default/imports/nope", headers=mgmt.admin)
    assert missing.status_code == 404


def test_a_job_is_queued_and_readable(mgmt: Harness) -> None:
    response = mgmt.client.post(
        f"{API}/registries/default/imports",
        json={"source": "registry.example.com/a/b/c:v1", "targetTags": ["x/y:z"],
              "username": "u", "password": "secret-pw"},
        headers=mgmt.admin,
    )  # fmt: skip
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and "password" not in job["request"]
    shown = mgmt.client.get(f"{API}/registries/default/imports/{job['id']}", headers=mgmt.admin)
    assert shown.status_code == 200 and shown.json()["id"] == job["id"]


def test_parse_source() -> None:
    parsed = parse_source("Registry.Example.com:5000/a/b/c:v1", local=False)
    assert (parsed.host, parsed.repository, parsed.reference) == (
        "registry.example.com:5000", "a/b/c", "v1",
    )  # fmt: skip
    assert parse_source("docker.io/alpine", local=False).repository == "library/alpine"
    assert parse_source("localhost/x", local=False).reference == "latest"
    digest = "sha256:" + "a" * 64
    assert parse_source(f"team/app@{digest}", local=True).reference == digest
    with pytest.raises(Invalid):
        parse_source("team/app:v1", local=False)
