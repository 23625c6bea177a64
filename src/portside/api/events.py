"""The request behind a change, as webhook events record it (`request` and `actor`)."""

from __future__ import annotations

import uuid

from starlette.requests import Request

from portside.api.state import credentials_from
from portside.auth.credentials import Basic
from portside.services.events import EventContext

__all__ = ["event_context"]

_MAX_FIELD = 512


def event_context(request: Request) -> EventContext:
    """For a request past the access step (api/access.py): the request id (the one the
    answer's `X-Request-Id` carries and the log lines name), host, method, user agent and the
    user name of Basic credentials (tokens name no user here yet)."""
    headers = request.headers
    credentials = credentials_from(request)  # parsed once, by the access step
    actor = credentials.username if isinstance(credentials, Basic) else ""
    return EventContext(
        request_id=str(request.scope.get("state", {}).get("request_id") or uuid.uuid4()),
        host=headers.get("host", "")[:_MAX_FIELD],
        method=request.method,
        useragent=headers.get("user-agent", "")[:_MAX_FIELD],
        actor=actor[:_MAX_FIELD],
    )
