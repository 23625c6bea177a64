"""The access log: one line per request, whatever the client put in the path."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from portside.api.app import create_app
from portside.config import Settings
from portside.logs import printable


def test_a_newline_in_the_path_cannot_forge_a_log_line(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    logged = settings.model_copy(update={"access_log": True})
    with (
        TestClient(create_app(logged), base_url="http://localhost") as client,
        caplog.at_level(logging.INFO, "portside.access"),
    ):
        client.get("/v2/a%0aFAKE/tags/list")
        client.get("/v2/a%0d%0a127.0.0.1%20GET%20/v2/%20200/tags/list")
    lines = [
        logging.Formatter("%(message)s").format(r)
        for r in caplog.records
        if r.name == "portside.access"
    ]
    assert len(lines) == 2
    assert all("\n" not in line and "\r" not in line for line in lines)
    assert lines[0].startswith("GET /v2/a\\x0aFAKE/tags/list ")
    # Spaces are escaped too: the fields of a line stay where a reader expects them.
    assert lines[1].split(" ")[1] == "/v2/a\\x0d\\x0a127.0.0.1\\x20GET\\x20/v2/\\x20200/tags/list"


def test_printable_escapes_what_a_terminal_or_a_log_reader_would_interpret() -> None:
    assert printable("/v2/team/app/manifests/latest") == "/v2/team/app/manifests/latest"
    assert printable('a\tb\x1b[31m\\"') == "a\\x09b\\x1b[31m\\x5c\\x22"
    assert printable("x\u2028y\x85z") == "x\\u2028y\\x85z"
    assert printable("caf\u00e9") == "caf\u00e9"
