"""Sign-in and sign-out pages."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.auth.errors import Throttled, Unauthorized
from portside.portal.directory import DirectorySignIn
from portside.portal.web import COOKIE, SIGNIN_COOKIE, checked_form, over_https, portal_of

__all__ = ["local_target", "routes", "signin_form"]


async def home(request: Request) -> Response:
    """The portal's front door: the registries, or the sign-in page."""
    portal = portal_of(request)
    root = request.scope.get("root_path", "")
    signed_in = await portal.sign_in.viewer(request.cookies.get(COOKIE))
    return RedirectResponse(f"{root}/registries" if signed_in else f"{root}/signin", 303)


async def signin_page(request: Request) -> Response:
    """The sign-in form, with a fresh CSRF cookie of its own."""
    return await signin_form(request, "", 200)


async def signin(request: Request) -> Response:
    """Check the credentials, open a session and go where the viewer was going."""
    portal = portal_of(request)
    fields = await checked_form(request, None)
    username = fields.get("username", "").strip()
    client = request.client.host if request.client is not None else ""
    try:
        cookie = await portal.sign_in.sign_in(username, fields.get("password", ""), client=client)
    except (Unauthorized, Throttled) as error:
        status = 429 if isinstance(error, Throttled) else 401
        return await signin_form(request, error.message, status, username)
    # A session the browser already had ends: one browser, one session.
    await portal.sign_in.sign_out(request.cookies.get(COOKIE))
    response = RedirectResponse(local_target(request, fields.get("next", "")), 303)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
        path=request.scope.get("root_path", "") or "/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path=request.scope.get("root_path", "") or "/")
    return response


async def signout(request: Request) -> Response:
    """End the session (its row is deleted: no node accepts the cookie any more)."""
    portal = portal_of(request)
    viewer = await portal.viewer(request)
    await checked_form(request, viewer)
    await portal.sign_in.sign_out(request.cookies.get(COOKIE))
    root = request.scope.get("root_path", "")
    response = RedirectResponse(f"{root}/signin", 303)
    response.delete_cookie(COOKIE, path=root or "/")
    return response


async def signin_form(request: Request, error: str, status: int, username: str = "") -> Response:
    """The sign-in page (with `error` shown, if any) and the directories it offers."""
    token = secrets.token_urlsafe(32)
    directory = request.app.state.directory
    assert isinstance(directory, DirectorySignIn)
    page = portal_of(request).render(
        request,
        "signin.html",
        {
            "csrf": token,
            "error": error,
            "username": username,
            "next": request.query_params.get("next", ""),
            "directories": await directory.choices(),
        },
        status=status,
    )
    page.set_cookie(
        SIGNIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
        path=request.scope.get("root_path", "") or "/",
    )
    return page


def local_target(request: Request, target: str) -> str:
    """Where to go after signing in: a page of this portal, never another site."""
    root = str(request.scope.get("root_path", ""))
    if target.startswith(root + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{root}/registries"


def routes() -> list[Route]:
    """The sign-in routes."""
    return [
        Route("/", home, methods=["GET"]),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
    ]
