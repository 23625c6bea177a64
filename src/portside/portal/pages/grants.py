"""A registry's Access page: who holds which role in it (role assignments, added and removed)
and what anyone may pull without credentials (anonymous pull of the registry and of single
repositories).

Who may do what is the management API's decision: anonymous pull is a registry setting
(Contributor or Owner, `PATCH /registries/{name}` and `.../repositories/{repository}`); role
assignments are the Owner's (`OwnerCaller`), so a Contributor sees the page without them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.auth.permissions import ROLES
from portside.portal.access import RegistryPage
from portside.portal.web import (
    checked_form,
    host_of,
    managed_form,
    managed_page,
    managing,
    portal_of,
    runtime_of,
)
from portside.services.management.errors import Invalid
from portside.services.management.identities import ASSIGNEE_TYPES

__all__ = ["routes"]

# How the form names each assignee type (the API's `assigneeType` values).
_ASSIGNEE_LABELS = {
    "sp": "service principal",
    "subject": "federated subject",
    "group": "federated group",
}


async def access(request: Request) -> Response:
    """Anonymous pull of the registry and its repositories, and (for an Owner) its roles."""
    viewer, page = await managed_page(request)
    portal = portal_of(request)
    runtime = runtime_of(request)
    open_repositories = await runtime.stores.registries.all_anonymous_repositories(
        page.view.record.id
    )
    owns = await portal.access.owns(viewer, page)
    assignments = await runtime.management.principals.assignments(page.name) if owns else []
    assignments.sort(key=lambda a: (a.record.principal, a.record.role, a.record.repositories))
    names: dict[str, str] = {}
    if viewer.is_admin:
        # Only the administrator may read service principals (their names) in the API.
        names = {v.record.id: v.record.name for v in await runtime.management.principals.list()}
    context = {
        "page": page,
        "open_repositories": sorted(open_repositories),
        "owns": owns,
        "assignments": assignments,
        "names": names,
        "roles": tuple(ROLES),
        "assignee_types": [(kind, _ASSIGNEE_LABELS[kind]) for kind in ASSIGNEE_TYPES],
        "type_labels": _ASSIGNEE_LABELS,
    }
    return portal.render(request, "grants.html", context, viewer=viewer)


async def registry_anonymous_pull(request: Request) -> Response:
    """Open or close the whole registry to pulls without credentials."""
    viewer, page, fields = await managing(request)
    assert viewer.caller is not None  # managing needs a management caller
    await runtime_of(request).management.registries.update(
        page.name,
        caller=viewer.caller,
        anonymous_pull=_switch(fields),
        host=host_of(request),
    )
    return _back(request, page.name)


async def repository_anonymous_pull(request: Request) -> Response:
    """Open or close one repository to pulls without credentials."""
    name, fields = await managed_form(request)
    await runtime_of(request).management.registries.set_repository_anonymous_pull(
        name, fields.get("repository", "").strip(), _switch(fields)
    )
    return _back(request, name)


async def assign(request: Request) -> Response:
    """Give a service principal (or a federated subject or group) a role (Owner only)."""
    page, fields = await _owned_form(request)
    await runtime_of(request).management.principals.assign(
        page.name,
        fields.get("role", ""),
        fields.get("assignee", "").strip(),
        fields.get("assignee_type", "sp"),
        fields.get("repositories", "").strip() or "*",
        fields.get("issuer", "").strip() or None,
    )
    return _back(request, page.name)


async def unassign(request: Request) -> Response:
    """Remove one role assignment (Owner only)."""
    page, fields = await _owned_form(request)
    text = fields.get("assignment", "")
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        raise Invalid("the role assignment to remove is named by its number")
    await runtime_of(request).management.principals.unassign(page.name, int(text))
    return _back(request, page.name)


async def _owned_form(request: Request) -> tuple[RegistryPage, dict[str, str]]:
    """The registry and checked form, once the viewer may change role assignments."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    page = await portal.access.page(viewer, request.path_params["name"], host_of(request))
    await portal.access.require_owner(viewer, page)
    return page, fields


def _switch(fields: dict[str, str]) -> bool:
    """The on/off a form's `enabled` field asks for; Invalid for anything else."""
    value = fields.get("enabled", "")
    if value not in ("true", "false"):
        raise Invalid("say whether to turn anonymous pull on (true) or off (false)")
    return value == "true"


def _back(request: Request, name: str) -> Response:
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/registries/{name}/access", 303)


def routes() -> list[Route]:
    """The Access page's routes."""
    return [
        Route("/registries/{name}/access", access, methods=["GET"]),
        Route("/registries/{name}/anonymous-pull", registry_anonymous_pull, methods=["POST"]),
        Route(
            "/registries/{name}/repositories/anonymous-pull",
            repository_anonymous_pull,
            methods=["POST"],
        ),
        Route("/registries/{name}/role-assignments", assign, methods=["POST"]),
        Route("/registries/{name}/role-assignments/delete", unassign, methods=["POST"]),
    ]
