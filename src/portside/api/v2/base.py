"""`GET /v2/`: the API version check every client makes first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["version_check"]


async def version_check(request: Request) -> Response:
    """Answer 200 with an empty JSON object once access is granted."""
    return JSONResponse({})
