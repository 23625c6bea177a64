"""What the /acr/v1 endpoints share: the flags body, paging and `orderby`, next-page links,
the answers' JSON shapes.

Field names follow Microsoft's `azure-containerregistry` SDK models: `changeableAttributes`
holds `deleteEnabled`, `writeEnabled`, `readEnabled`, `listEnabled`; times are RFC 3339 UTC with
seven fractional digits, as ACR writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from portside.api.params import page_params
from portside.metadata.records import LockFlags
from portside.services.errors import BodyInvalid

__all__ = [
    "Page",
    "acr_time",
    "flags_json",
    "item_response",
    "login_server",
    "next_link",
    "page_of",
    "page_response",
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


@dataclass(frozen=True, slots=True)
class Page:
    """What a listing asks for: at most `n` items after `last`, in `orderby` order (None: the
    default order)."""

    n: int | None
    last: str | None
    orderby: str | None


def page_of(request: Request) -> Page:
    """`n`, `last` and `orderby` of a `_tags` or `_manifests` listing."""
    n, last = page_params(request)
    return Page(n, last, request.query_params.get("orderby") or None)


def page_response(
    request: Request,
    repository: str,
    field: str,
    items: list[dict[str, Any]],
    page: Page,
    next_after: str | None,
    **kept: str | None,
) -> Response:
    """A listing's answer, `items` under `field`. When more items follow, `next_after` is the
    key of this page's last one and a `Link` leads to the next page, keeping `n`, `orderby`
    and the `kept` parameters."""
    headers = {}
    if next_after is not None:
        headers["Link"] = next_link(request, page.n, next_after, orderby=page.orderby, **kept)
    body = {"registry": login_server(request), "imageName": repository, field: items}
    return JSONResponse(body, headers=headers)


def item_response(request: Request, repository: str, field: str, item: dict[str, Any]) -> Response:
    """One tag's or manifest's answer, `item` under `field`."""
    return JSONResponse({"registry": login_server(request), "imageName": repository, field: item})


async def read_flag_changes(request: Request) -> dict[str, bool]:
    """The PATCH body: some of the four attributes, each true or false (an empty body: none).

    Anything else (malformed JSON, another key, a value that is not a boolean, a body cut
    short) is BodyInvalid.
    """
    parts: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > _MAX_BODY_BYTES:
                raise BodyInvalid(f"body larger than {_MAX_BODY_BYTES} bytes")
            parts.append(chunk)
    except ClientDisconnect:
        raise BodyInvalid("the request body ended early") from None
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
