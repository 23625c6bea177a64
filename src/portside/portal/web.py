"""The portal's page machinery: templates, the viewer of a request, CSRF checks, the security
headers every answer carries, and the one table that turns domain errors into pages.

Pages work without JavaScript and the portal ships none: its Content-Security-Policy allows
no script at all, styles only from its own stylesheet, and no framing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portside.auth.errors import Denied, Throttled, Unauthorized
from portside.auth.secrets import constant_time_equals
from portside.oci.errors import OciValueError
from portside.portal.access import RegistryAccess, RegistryPage
from portside.portal.signin import PortalSignIn, Viewer
from portside.runtime import Runtime
from portside.services.errors import (
    Locked,
    ManifestUnknown,
    NameUnknown,
    ParameterInvalid,
    QuotaExceeded,
    TagImmutable,
    TagUnknown,
)
from portside.services.imports.errors import UpstreamRefused
from portside.services.management.context import MAX_EXPIRY_DAYS
from portside.services.management.errors import Conflict, Invalid, NotFound

__all__ = [
    "COOKIE",
    "SECURITY_HEADERS",
    "SIGNIN_COOKIE",
    "Portal",
    "SecurityHeaders",
    "checked_form",
    "expiry_days",
    "handled_errors",
    "host_of",
    "human_size",
    "managed_form",
    "managed_page",
    "managing",
    "over_https",
    "portal_of",
    "runtime_of",
]

COOKIE = "portside_session"
"""The session cookie (a random value; the database holds its hash)."""

SIGNIN_COOKIE = "portside_signin"
"""The sign-in form's CSRF cookie (double submit: no session exists yet)."""

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'none'; object-src 'none'; "
    "style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
"""Headers on every portal answer."""

# Largest form a page posts (a scope map's actions are the biggest): bounded before parsing.
_MAX_FORM_BYTES = 64 * 1024

# Domain errors and the status and title of the page that explains them.
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (Unauthorized, 401, "Sign-in needed"),
    (Denied, 403, "Not allowed"),
    (Throttled, 429, "Too many attempts"),
    (NotFound, 404, "Not found"),
    (NameUnknown, 404, "Not found"),
    (TagUnknown, 404, "Not found"),
    (ManifestUnknown, 404, "Not found"),
    (Invalid, 400, "Cannot do that"),
    (OciValueError, 400, "Cannot do that"),
    (ParameterInvalid, 400, "Cannot do that"),
    (Conflict, 409, "Cannot do that"),
    (Locked, 409, "Locked"),
    (TagImmutable, 409, "Locked"),
    (QuotaExceeded, 409, "Quota reached"),
    (UpstreamRefused, 400, "Cannot do that"),
)


class Portal:
    """What the portal's pages share: the runtime's services, sign-in, access, templates."""

    def __init__(self, sign_in: PortalSignIn, access: RegistryAccess) -> None:
        """Over the sign-in and access checks; templates load from the package."""
        self.sign_in = sign_in
        self.access = access
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("portside.portal", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["size"] = human_size

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any],
        *,
        status: int = 200,
        viewer: Viewer | None = None,
    ) -> HTMLResponse:
        """A page from `template` with `context`, the viewer and the request's paths."""
        page = self.templates.get_template(template).render(
            viewer=viewer,
            root=request.scope.get("root_path", ""),
            **context,
        )
        return HTMLResponse(page, status_code=status, headers={"cache-control": "no-store"})

    async def viewer(self, request: Request) -> Viewer:
        """The signed-in viewer; Unauthorized (a sign-in page) without a standing session."""
        found = await self.sign_in.viewer(request.cookies.get(COOKIE))
        if found is None:
            raise Unauthorized("sign in to see this page")
        return found

    def error_page(self, request: Request, error: Exception) -> Response:
        """The page for a domain error raised by a handler."""
        status, title = next(
            ((status, title) for kind, status, title in _ERRORS if isinstance(error, kind)),
            (500, ""),
        )
        if status == 500:
            raise error
        if status == 401:
            target = request.url.path
            return RedirectResponse(f"{_root(request)}/signin?next={_quoted(target)}", 303)
        message = getattr(error, "message", None) or str(error)
        return self.render(
            request, "error.html", {"title": title, "message": message}, status=status
        )


def handled_errors() -> tuple[type[Exception], ...]:
    """The domain errors that become pages (`Portal.error_page`)."""
    return tuple(kind for kind, _, _ in _ERRORS)


def portal_of(request: Request) -> Portal:
    """The portal the application was built with."""
    portal = request.app.state.portal
    assert isinstance(portal, Portal)
    return portal


def runtime_of(request: Request) -> Runtime:
    """The runtime whose services the pages call (never HTTP to the server itself)."""
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


def over_https(request: Request) -> bool:
    """True if the browser came over HTTPS (also through a proxy that terminates TLS, when
    `trust_forwarded_proto` says its `X-Forwarded-Proto` may be believed): cookies are then
    `Secure`."""
    if request.url.scheme == "https":
        return True
    trusted = runtime_of(request).settings.trust_forwarded_proto
    return trusted and request.headers.get("x-forwarded-proto", "").lower() == "https"


def host_of(request: Request) -> str | None:
    """The Host the browser used (login servers of the default registry are shown by it)."""
    host = request.headers.get("host", "")
    return host.lower() or None


async def checked_form(request: Request, viewer: Viewer | None) -> dict[str, str]:
    """The posted form's fields, once its CSRF token matched the session's (or, before
    sign-in, the sign-in cookie's); 403 otherwise, and 413 for an oversized body."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > _MAX_FORM_BYTES:
        raise HTTPException(413, "the form is too large (or its length was not declared)")
    form = await request.form(max_files=0, max_fields=200)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    expected = viewer.csrf if viewer is not None else request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not constant_time_equals(fields.get("csrf", ""), expected):
        raise Denied("the form has expired or did not come from this portal: reload the page")
    return fields


async def managed_form(request: Request) -> tuple[str, dict[str, str]]:
    """The registry `{name}` of a form's path and its checked fields, once the viewer may
    manage that registry (Contributor or Owner; a registry it cannot see is NotFound)."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    name = request.path_params["name"]
    page = await portal.access.page(viewer, name, host_of(request))
    page.require_manage()
    return name, fields


async def managed_page(request: Request) -> tuple[Viewer, RegistryPage]:
    """The viewer and the registry `{name}` of the path, once it may manage that registry."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    page = await portal.access.page(viewer, request.path_params["name"], host_of(request))
    page.require_manage()
    return viewer, page


async def managing(request: Request) -> tuple[Viewer, RegistryPage, dict[str, str]]:
    """As `managed_form`, with the viewer and the registry as it sees it (for pages that
    answer a form with a page rather than a redirect)."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    fields = await checked_form(request, viewer)
    page = await portal.access.page(viewer, request.path_params["name"], host_of(request))
    page.require_manage()
    return viewer, page, fields


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the app, adding the headers to its answer's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def human_size(value: int) -> str:
    """A byte count as people read it (`12.3 MB`)."""
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _quoted(path: str) -> str:
    return quote(path, safe="/")


def expiry_days(text: str) -> int | None:
    """A secret's validity in days from a form field: None (never expires) when empty,
    Invalid (a 400 page) unless a whole number the management API would accept."""
    text = text.strip()
    if not text:
        return None
    # isascii: str.isdigit also takes digits int() refuses, such as superscripts.
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not (
        1 <= int(text) <= MAX_EXPIRY_DAYS
    ):
        raise Invalid(f"expiry must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}")
    return int(text)
