"""Purge with a dry-run preview: the form's first submit runs the lifecycle service's purge as
a dry run (what `portside purge --dry-run` and `POST .../purge` with `dryRun` run) and lists
exactly what would go; its confirm button runs the same purge for real, but only if a fresh
dry run still finds exactly that list (else the new list is shown to confirm again)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portside.metadata.deletion import Removal
from portside.portal.access import RegistryPage
from portside.portal.signin import Viewer
from portside.portal.web import managed_page, managing, portal_of, runtime_of
from portside.services.lifecycle.purge import PurgeRequest
from portside.services.lifecycle.retention import MAX_KEEP_LAST
from portside.services.management.errors import Invalid

__all__ = ["fingerprint", "routes"]

_DEFAULTS = {"repository": ".*", "tag": ".*", "ago": "", "keep": "0", "untagged": ""}


def fingerprint(items: Sequence[Removal]) -> str:
    """A digest of a purge's list: the confirm runs only while a dry run still gives it."""
    rows = [[i.repository, i.kind, i.digest, list(i.tags), i.skipped] for i in items]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _request(form: Mapping[str, str], *, dry_run: bool) -> PurgeRequest:
    """The purge the form asks for; Invalid for a bad field (the service checks the rest)."""
    repository = form.get("repository", "").strip() or ".*"
    tag = form.get("tag", "").strip() or ".*"
    keep_text = form.get("keep", "").strip() or "0"
    if not keep_text.isdigit() or int(keep_text) > MAX_KEEP_LAST:
        raise Invalid(f"keep {keep_text[:20]!r} must be a whole number up to {MAX_KEEP_LAST}")
    ago = form.get("ago", "").strip()
    if not ago:
        raise Invalid("say how old a tag must be to go (such as 30d, 12h, or 0 for any age)")
    return PurgeRequest(
        filters=[f"{repository}:{tag}"],
        ago=ago,
        keep=int(keep_text),
        untagged=form.get("untagged") == "on",
        dry_run=dry_run,
    )


def _render(
    request: Request,
    viewer: Viewer,
    page: RegistryPage,
    form: Mapping[str, str],
    *,
    status: int = 200,
    **context: object,
) -> Response:
    values = {key: form.get(key, default) for key, default in _DEFAULTS.items()}
    base: dict[str, object] = {"page": page, "form": values, "error": "", "notice": ""}
    base |= {"items": None, "done": False, "fingerprint": "", **context}
    return portal_of(request).render(request, "purge.html", base, viewer=viewer, status=status)


async def purge_form(request: Request) -> Response:
    """The purge form (Contributor or Owner, as the purge route)."""
    viewer, page = await managed_page(request)
    return _render(request, viewer, page, {})


async def preview(request: Request) -> Response:
    """Run the purge as a dry run and list what would go, with a confirm button."""
    viewer, page, form = await managing(request)
    lifecycle = runtime_of(request).lifecycle
    try:
        result = await lifecycle.purge(page.name, _request(form, dry_run=True))
    except Invalid as error:
        return _render(request, viewer, page, form, status=400, error=error.message)
    items = list(result.items)
    return _render(request, viewer, page, form, items=items, fingerprint=fingerprint(items))


async def confirm(request: Request) -> Response:
    """Purge for real what the preview listed; a changed list is shown again instead."""
    viewer, page, form = await managing(request)
    lifecycle = runtime_of(request).lifecycle
    try:
        fresh = await lifecycle.purge(page.name, _request(form, dry_run=True))
        items = list(fresh.items)
        if fingerprint(items) != form.get("fingerprint", ""):
            notice = "What would go changed since the preview: check this list and confirm again."
            context = {"items": items, "fingerprint": fingerprint(items), "notice": notice}
            return _render(request, viewer, page, form, status=409, **context)
        done = await lifecycle.purge(page.name, _request(form, dry_run=False))
    except Invalid as error:
        return _render(request, viewer, page, form, status=400, error=error.message)
    return _render(request, viewer, page, form, items=list(done.items), done=True)


def routes() -> list[Route]:
    """The purge routes."""
    return [
        Route("/registries/{name}/purge", purge_form, methods=["GET"]),
        Route("/registries/{name}/purge", preview, methods=["POST"]),
        Route("/registries/{name}/purge/confirm", confirm, methods=["POST"]),
    ]
