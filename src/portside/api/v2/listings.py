"""`/v2/<name>/tags/list` and `/v2/_catalog` (also `/acr/v1/_catalog`): lexical pages
continued by a Link header. List-disabled tags and repositories are left out, and the catalog
shows only repositories the caller may pull or read the metadata of."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from portside.api.params import page_params, target_of
from portside.api.state import app_state, grant_of, registry_of
from portside.metadata.listing_pages import Encoding

__all__ = ["catalog", "tags_list", "visible_repositories"]


def _encode(
    request: Request, n: int | None, key: str, names: list[str], more: bool, extra: dict[str, str]
) -> Encoding:
    """The page's JSON body (as starlette's JSONResponse renders it) and its Link, if any."""
    link = None
    if more and names:
        query = urlencode({"n": n if n is not None else len(names), "last": names[-1]})
        link = f'<{request.url.path}?{query}>; rel="next"'
    body = json.dumps(
        {**extra, key: names}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    return body.encode("utf-8"), link


def _answer(encoding: Encoding) -> Response:
    body, link = encoding
    headers = None if link is None else {"Link": link}
    return Response(body, media_type="application/json", headers=headers)


async def tags_list(request: Request) -> Response:
    """A page of the repository's tags."""
    target = target_of(request)
    n, last = page_params(request)
    page = await app_state(request).listings.tags(
        target, last, n, registry_uid=registry_of(request).uid
    )
    # A kept page is answered as it was rendered (the body names only the repository and the
    # page; the Link, when there is one, also `n` and the path): a hit encodes nothing.
    key = (request.url.path, n) if page.more and page.names else None
    encoding = page.encoding(key)
    if encoding is None:
        encoding = _encode(request, n, "tags", page.names, page.more, {"name": target.repository})
        page.keep_encoding(key, encoding)
    return _answer(encoding)


def visible_repositories(request: Request) -> Callable[[str], bool]:
    """Whether the caller may see a repository: pull it, or read its metadata."""
    grant = grant_of(request)

    def visible(name: str) -> bool:
        return grant.allows("repository", name, "pull") or grant.allows(
            "repository", name, "metadata_read"
        )

    return visible


async def catalog(request: Request) -> Response:
    """A page of the registry's repositories that the caller may see."""
    n, last = page_params(request)
    registry = registry_of(request)
    names, more = await app_state(request).listings.repositories(
        registry.id, last, n, visible_repositories(request), registry_uid=registry.uid
    )
    return _answer(_encode(request, n, "repositories", names, more, {}))
