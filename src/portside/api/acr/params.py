"""What the /acr/v1 endpoints share: the flags body, `orderby`, next-page links, JSON shapes.

Field names follow Microsoft's `azure-containerregistry` SDK models: `changeableAttributes`
holds `deleteEnabled`, `writeEnabled`, `readEnabled`, `listEnabled`; times are RFC 3339 UTC with
seven fractional digits, as ACR writes them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from portside.metadata.records import LockFlags
from portside.services.errors import BodyInvalid

__all__ = [
    "acr_time",
    "flags_json",
    "login_server",
    "next_link",
    "read_flag_changes",
]

# ACR's attribute names and the flag each sets.
_ATTRIBUTES = {
    "deleteEnabled": "delete_enabled",
    "writeEnabled": "write_enabled",
    "readEnabled": "read_enabled",
    "listEnabled": "list_enabled",
}
_MAX_BODY_BYTES = 64 * 1024


def acr_time(value: datetime) -> str:
    """`2021-05-04T17:44:15.1234560Z`: UTC, seven fractional digits, as ACR writes times."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def flags_json(flags: LockFlags) -> dict[str, bool]:
    """A `changeableAttributes` object."""
    return {name: getattr(flags, flag) for name, flag in _ATTRIBUTES.items()}


def login_server(request: Request) -> str:
    """The `registry` field: the host the client addressed (ACR's login server)."""
    return request.url.netloc or request.headers.get("host", "")


def next_link(request: Request, n: int | None, last: str, **extra: str | None) -> str:
    """A `Link` header value for the page after `last`, keeping `n` and the other parameters."""
    params: dict[str, str] = {"last": last}
    if n is not None:
        params["n"] = str(n)
    params.update({key: value for key, value in extra.items() if value})
    return f'<{request.url.path}?{urlencode(params)}>; rel="next"'


async def read_flag_changes(request: Request) -> dict[str, bool]:
    """The PATCH body: some of the four attributes, each true or false (an empty body: none).

    Anything else (malformed JSON, another key, a value that is not a boolean) is BodyInvalid.
    """
    parts: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > _MAX_BODY_BYTES:
            raise BodyInvalid(f"body larger than {_MAX_BODY_BYTES} bytes")
        parts.append(chunk)
    raw = b"".join(parts)
    if not raw.strip():
        return {}
    try:
        doc: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BodyInvalid("body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BodyInvalid("body must be a JSON object of changeable attributes")
    unknown = sorted(key for key in doc if key not in _ATTRIBUTES)
    if unknown:
        raise BodyInvalid(
            f"not a changeable attribute: {', '.join(k[:40] for k in unknown[:5])}",
            {"allowed": sorted(_ATTRIBUTES)},
        )
    wrong = sorted(key for key, value in doc.items() if not isinstance(value, bool))
    if wrong:
        raise BodyInvalid(f"must be true or false: {', '.join(wrong)}")
    return {_ATTRIBUTES[key]: value for key, value in doc.items()}
