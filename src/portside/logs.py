"""Log lines as JSON, and the request id every line of a request carries.

The access-log middleware (api/middleware.py) sets `REQUEST_ID` for the time of a request;
`JsonFormatter` writes it into every line logged meanwhile, whoever logs it. Access-log lines
bring their fields (method, route, path, status, ...) as `extra={"access": {...}}`.

Values are bounded (`MAX_VALUE`) so that no client can make one line huge; the JSON encoder
escapes control characters, so one record stays one line.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MAX_VALUE",
    "REQUEST_ID",
    "TEXT_FORMAT",
    "JsonFormatter",
    "RequestIdFilter",
    "bounded",
    "job_failed",
    "printable",
]

REQUEST_ID: ContextVar[str | None] = ContextVar("portside_request_id", default=None)
"""The id of the request being served in this context, or None outside requests."""

MAX_VALUE = 2048
"""Characters of one logged value kept (a message, a path); the rest is cut with a mark."""


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request)s: %(message)s"
"""The text log line; `%(request)s` is ` [<request id>]` inside a request, else empty."""


class RequestIdFilter(logging.Filter):
    """Gives each record the `request` field `TEXT_FORMAT` shows (it lets every record pass)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set `record.request` from the request being served, if any."""
        request_id = REQUEST_ID.get()
        record.request = f" [{request_id}]" if request_id is not None else ""
        return True


def job_failed(log: logging.Logger, message: str, *args: object) -> None:
    """Log a background job's failure, called in its `except` block: an outage (an error
    whose class sets `outage = True`, as a lost database's does) as one warning line, since
    a traceback every poll would bury the one line that matters; anything else with its
    traceback."""
    error = sys.exc_info()[1]
    if getattr(error, "outage", False):
        log.warning(message + ": %s", *args, error)
    else:
        log.exception(message, *args)


def bounded(value: str, limit: int = MAX_VALUE) -> str:
    """`value` cut to `limit` characters, marked when cut."""
    return value if len(value) <= limit else value[:limit] + "...[cut]"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, access fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": bounded(record.getMessage()),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            line.update((k, v) for k, v in access.items() if k not in line)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=True, default=str)


# Printable characters escaped all the same: the space (the field separator), the
# backslash (the escape) and the double quote (so values can be quoted by a later format).
_ESCAPED_TOO = frozenset(' \\"')


def printable(value: str) -> str:
    """`value` with control, separator and other unprintable characters, spaces, backslashes
    and double quotes written as `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN` escapes."""
    if value.isprintable() and not _ESCAPED_TOO.intersection(value):
        return value
    return "".join(_escape(c) for c in value)


def _escape(char: str) -> str:
    if char.isprintable() and char not in _ESCAPED_TOO:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
