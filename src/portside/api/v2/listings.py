"""`/v2/<name>/tags/list` and `/v2/_catalog` (also `/acr/v1/_catalog`): lexical pages
continued by a Link header. List-disabled tags and repositories are left out, and the catalog
shows only repositories the caller may pull or read the metadata of."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portside.api.params import page_params, target_of
from portside.api.state import app_state, grant_of, registry_of

__all__ = ["catalog", "tags_list", "visible_repositories"]


def _page(
    request: Request, key: str, names: list[str], more: bool, extra: dict[str, str]
) -> Response:
    headers = {}
    if more and names:
        n, _ = page_params(request)
        query = urlencode({"n": n if n is not None else len(names), "last": names[-1]})
        headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
    return JSONResponse({**extra, key: names}, headers=headers)


async def tags_list(request: Request) -> Response:
    """A page of the repository's tags."""
    target = target_of(request)
    n, last = page_params(request)
    names, more = await app_state(request).listings.tags(target, last, n)
    return _page(request, "tags", names, more, {"name": target.repository})


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
    names, more = await app_state(request).listings.repositories(
        registry_of(request).id, last, n, visible_repositories(request)
    )
    return _page(request, "repositories", names, more, {})
