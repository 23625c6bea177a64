"""Import: a form (source, target tags, credentials or a credential set, force) that starts a
job on the server, the recent jobs, and a job's page with its status and progress, which
reloads itself (`<meta http-equiv=refresh>`, no script) until the job is done. Contributor or
Owner, as the management API's import routes; importing from another registry of this
deployment also needs that role there."""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.portal.access import RegistryPage
from portside.portal.signin import Viewer
from portside.portal.web import managed_page, managing, portal_of, runtime_of
from portside.services.imports.errors import UpstreamRefused
from portside.services.imports.imports import MAX_TARGETS, ImportRequest
from portside.services.management.errors import Conflict, Invalid, NotFound

__all__ = ["import_request", "routes"]

# Seconds between reloads of a job's page while it runs.
REFRESH_SECONDS = 2

_SPLIT = re.compile(r"[\s,]+")


def import_request(fields: Mapping[str, str]) -> ImportRequest:
    """The import the form asks for; Invalid for a form that cannot be one."""
    targets = tuple(t for t in _SPLIT.split(fields.get("targets", "")) if t)
    if len(targets) > MAX_TARGETS:
        raise Invalid(f"at most {MAX_TARGETS} target tags")
    username = fields.get("username", "").strip() or None
    password = fields.get("password", "") or None
    credential_set = fields.get("credential_set", "").strip() or None
    if (username is None) != (password is None):
        raise Invalid("give both a user name and a password, or neither")
    if credential_set is not None and username is not None:
        raise Invalid("use either a credential set or a user name and password, not both")
    return ImportRequest(
        source=fields.get("source", "").strip(),
        targets=targets,
        source_registry=fields.get("source_registry", "").strip() or None,
        credential_set=credential_set,
        username=username,
        password=password,
        force=fields.get("force") == "on",
    )


async def _render(
    request: Request, viewer: Viewer, page: RegistryPage, *, error: str = "", status: int = 200
) -> Response:
    runtime = runtime_of(request)
    context = {
        "page": page,
        "jobs": await runtime.imports.list(page.name),
        "sets": await runtime.credential_sets.list(page.name),
        "error": error,
    }
    portal = portal_of(request)
    return portal.render(request, "imports.html", context, viewer=viewer, status=status)


async def imports(request: Request) -> Response:
    """The import form and the registry's recent imports."""
    viewer, page = await managed_page(request)
    return await _render(request, viewer, page)


async def start(request: Request) -> Response:
    """Queue an import job and go to its page; bad input gets the form back (400)."""
    viewer, page, fields = await managing(request)
    try:
        wanted = import_request(fields)
        if wanted.source_registry is not None:
            await portal_of(request).access.require_import_source(viewer, wanted.source_registry)
        job = await runtime_of(request).imports.start(page.name, wanted)
    except (Invalid, UpstreamRefused) as error:
        return await _render(request, viewer, page, error=error.message, status=400)
    except NotFound as error:  # a credential set or source registry the form named
        return await _render(request, viewer, page, error=error.message, status=404)
    except Conflict as error:  # an existing target tag without force, a locked target
        return await _render(request, viewer, page, error=error.message, status=409)
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/registries/{page.name}/imports/{job.id}", 303)


async def job(request: Request) -> Response:
    """One import: status, bytes done of the total, result or error."""
    viewer, page = await managed_page(request)
    found = await runtime_of(request).imports.get(page.name, request.path_params["job"])
    running = found.status in ("queued", "running")
    context = {"page": page, "job": found, "refresh": REFRESH_SECONDS if running else 0}
    return portal_of(request).render(request, "import_job.html", context, viewer=viewer)


def routes() -> list[Route]:
    """The import routes."""
    return [
        Route("/registries/{name}/imports", imports, methods=["GET"]),
        Route("/registries/{name}/imports", start, methods=["POST"]),
        Route("/registries/{name}/imports/{job}", job, methods=["GET"]),
    ]
