"""Request ids on every answer and in every log line of the request; JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.api.errors import exception_handlers
from portside.api.middleware import RegistryHeaders
from portside.config import Settings
from portside.logs import REQUEST_ID, TEXT_FORMAT, JsonFormatter, RequestIdFilter
from tests.registry_client import push_image

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the `portside` loggers write, formatted as `log_format = "json"` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("portside")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line of `stream` as JSON (each must parse on its own)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_answer_carries_a_request_id(client: TestClient) -> None:
    ok = client.get("/v2/")
    missing = client.get("/v2/team/app/manifests/nope")
    unknown = client.get("/nothing/here")
    assert missing.status_code == 404 and unknown.status_code == 404
    ids = [r.headers["X-Request-Id"] for r in (ok, missing, unknown)]
    assert all(GENERATED.fullmatch(i) for i in ids)
    assert len(set(ids)) == 3


def test_a_well_formed_incoming_id_is_echoed(client: TestClient) -> None:
    for given in ("abc-123", "3f2a9c1e-7b4d-4e1a-9f0c-2d8e6b5a4c3b", "lb:node-2.req_42", "x" * 128):
        answer = client.get("/v2/", headers={"X-Request-Id": given})
        assert answer.headers["X-Request-Id"] == given


@pytest.mark.parametrize(
    "given",
    ["has space", "x" * 129, "semi;colon", 'quote"d', "caf\u00e9", "new\\nline", "a/b", ""],
)
def test_a_malformed_incoming_id_is_replaced(client: TestClient, given: str) -> None:
    answer = client.get("/v2/", headers={"X-Request-Id": given.encode("utf-8")})  # type: ignore[dict-item]
    assert GENERATED.fullmatch(answer.headers["X-Request-Id"])


def test_json_access_lines_parse_and_carry_the_request_id(
    settings: Settings, json_lines: io.StringIO
) -> None:
    logged = settings.model_copy(update={"access_log": True})
    with TestClient(create_app(logged), base_url="http://localhost") as client:
        push_image(client, "team/app", "v1")
        pulled = client.get("/v2/team/app/manifests/v1", headers={"X-Request-Id": "pull-1"})
        forged = client.get('/v2/a%0a{"level":"error"}/tags/list')
    lines = parsed(json_lines)
    access = [line for line in lines if line["logger"] == "portside.access"]
    assert len(access) == 5  # two blobs, the manifest, the pull, the forged path
    pull = next(line for line in access if line["request_id"] == "pull-1")
    assert pull == {
        **pull,
        "level": "info",
        "method": "GET",
        "route": "/v2/{name}/manifests/{reference}",
        "path": "/v2/team/app/manifests/v1",
        "status": 200,
        "bytes_in": 0,
        "bytes_out": len(pulled.content),
        "client": "testclient",
    }
    assert {"time", "message", "duration_ms"} <= pull.keys()
    put = next(line for line in access if line["method"] == "PUT")
    assert put["bytes_in"] > 0 and put["status"] == 201
    last = access[-1]
    assert last["request_id"] == forged.headers["X-Request-Id"]
    assert last["route"] == "unmatched"  # no route template matches a newline
    # The newline arrives escaped, and the JSON it tried to inject stays inside the value.
    assert last["path"].startswith("/v2/a\\x0a{\\x22level\\x22")
    assert all("authorization" not in json.dumps(line).lower() for line in lines)


def test_a_failing_request_answers_with_its_id_and_logs_under_it(json_lines: io.StringIO) -> None:
    def broken(request: Request) -> Response:
        logging.getLogger("portside.test").warning("about to fail")
        raise RuntimeError("boom")

    app = Starlette(
        routes=[Route("/broken", broken)],
        exception_handlers=exception_handlers(),
        middleware=[Middleware(RegistryHeaders, access_log=True)],
    )
    with TestClient(app, raise_server_exceptions=False, base_url="http://localhost") as client:
        answer = client.get("/broken", headers={"X-Request-Id": "req-500"})
    assert answer.status_code == 500
    assert answer.headers["X-Request-Id"] == "req-500"
    assert answer.json()["errors"][0]["code"] == "UNKNOWN"
    lines = parsed(json_lines)
    by_logger = {line["logger"]: line for line in lines}
    assert by_logger["portside.test"]["request_id"] == "req-500"
    assert by_logger["portside.access"]["status"] == 500
    assert by_logger["portside.access"]["request_id"] == "req-500"
    assert "RuntimeError: boom" in by_logger["portside.api"]["exception"]
    assert by_logger["portside.api"]["request_id"] == "req-500"
    # Outside a request, lines have no id.
    logging.getLogger("portside.test").warning("after")
    assert "request_id" not in parsed(json_lines)[-1]


def test_values_are_bounded(client: TestClient, json_lines: io.StringIO) -> None:
    logging.getLogger("portside.test").warning("%s", "y" * 100_000)
    line = parsed(json_lines)[-1]
    assert len(line["message"]) < 3000 and line["message"].endswith("[cut]")


def test_text_lines_written_during_a_request_carry_its_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("portside.test.text")
    logger.addHandler(handler)
    try:
        token = REQUEST_ID.set("req-7")
        logger.warning("inside")
        REQUEST_ID.reset(token)
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith("WARNING portside.test.text [req-7]: inside")
    assert outside.endswith("WARNING portside.test.text: outside")
