"""Logging of the server's processes, configured in one place: the main process (whose
workers inherit it) and the loopback login servers' process call `configure_logging`."""

from __future__ import annotations

import logging

from portside.logs import TEXT_FORMAT, JsonFormatter, RequestIdFilter

__all__ = ["configure_logging"]

# Libraries that log every request (the Azure SDK: each request and response with its headers
# at INFO, 1,428 lines for one push) or every statement with its parameters (aiosqlite, at
# DEBUG: password hashes), or that announce their own set-up at every start (Alembic's
# plugins: seven lines before the first migration).
_CHATTY = ("azure", "botocore", "aiobotocore", "urllib3", "alembic.runtime.plugins")
_NEVER_DEBUG = ("aiosqlite",)
# HTTP clients that log each request's full URL at INFO: webhook and upstream URLs may carry a
# secret in their query string, so they speak at WARNING and above at every level.
_NEVER_INFO = ("httpx", "httpcore")


def configure_logging(level: str, log_format: str = "text") -> None:
    """Configure logging for a server process (workers inherit it).

    `log_format` "json" writes one JSON object per line (portside/logs.py); in both formats
    the lines written while a request is served carry its id. The object-store SDKs speak at
    WARNING and above unless the operator asked for debug.
    """
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        handler.addFilter(RequestIdFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    debugging = level == "debug"
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if debugging else logging.WARNING)
    for name in _NEVER_DEBUG:
        logging.getLogger(name).setLevel(logging.INFO)
    for name in _NEVER_INFO:
        logging.getLogger(name).setLevel(logging.WARNING)
