"""Error logs carry client-supplied values escaped, as the access log does: one error, one line."""

from __future__ import annotations

import logging

import anyio
import pytest
from starlette.requests import Request

from portside.api.errors import exception_handlers
from portside.storage.errors import StorageError

# Characters that end a line for a log reader (`str.splitlines`) or drive a terminal; the
# URL parser already drops \r, \n and \t, not these.
FORGED = "/v2/app\x1b[2K\x0b\x0c\x1c\x85\u2028\u2029forged/manifests/v1"


def _request(path: str) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "scheme": "http",
        "server": ("localhost", 80),
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
    }
    return Request(scope)


@pytest.mark.parametrize("error", [StorageError(f"no such key {FORGED}"), RuntimeError("boom")])
def test_error_logs_escape_the_path(caplog: pytest.LogCaptureFixture, error: Exception) -> None:
    handlers = exception_handlers()
    handler = handlers[StorageError] if isinstance(error, StorageError) else handlers[Exception]
    with caplog.at_level(logging.ERROR, "portside.api"):
        response = anyio.run(handler, _request(FORGED), error)
    assert response.status_code in (500, 503)
    (record,) = caplog.records
    message = record.getMessage()
    assert message.isprintable(), repr(message)
    assert len(message.splitlines()) == 1
