"""Directory (OIDC) sign-in pages: the start, which sends the browser to its issuer, and the
callback the issuer sends it back to (portal/directory.py does the flow).

The pre-session cookie is `SameSite=Lax`, not `Strict`: the issuer's redirect back is a
navigation from another site, on which a Strict cookie would not be sent. It names nothing but
a pending sign-in, which the callback consumes. The session cookie set then is Strict as
always, so the callback answers a page that moves on by itself (a `<meta>` refresh: a
navigation from this site, which carries it) rather than a redirect (which, at the end of a
chain begun at the issuer, would not).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portside.portal.directory import DirectorySignIn, SignInRefused
from portside.portal.pages.signin import local_target, signin_form
from portside.portal.web import COOKIE, SIGNIN_COOKIE, over_https, portal_of

__all__ = ["PENDING_COOKIE", "redirect_uri", "routes"]

PENDING_COOKIE = "portside_oidc"
"""The pre-session cookie of a directory sign-in (a random value; the database holds its hash)."""

_CALLBACK = "/signin/oidc/callback"


def redirect_uri(request: Request) -> str:
    """The exact redirect URI registered at the issuer: `<portal base>/signin/oidc/callback`."""
    scheme = "https" if over_https(request) else "http"
    host = request.headers.get("host", "")
    return f"{scheme}://{host}{_root(request)}{_CALLBACK}"


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _directory(request: Request) -> DirectorySignIn:
    directory = request.app.state.directory
    assert isinstance(directory, DirectorySignIn)
    return directory


async def start(request: Request) -> Response:
    """Send the browser to the issuer's authorization page, with a fresh pre-session cookie."""
    name = request.query_params.get("issuer", "")
    next_page = local_target(request, request.query_params.get("next", ""))
    try:
        cookie, url = await _directory(request).begin(name, redirect_uri(request), next_page)
    except SignInRefused as error:
        return await signin_form(request, error.message, 400)
    response = RedirectResponse(url, 303)
    response.set_cookie(
        PENDING_COOKIE,
        cookie,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=over_https(request),
        path=_root(request) + "/signin/oidc",
    )
    return response


async def callback(request: Request) -> Response:
    """Finish the sign-in: a session for the identity the issuer's ID token names."""
    params = request.query_params
    pending = request.cookies.get(PENDING_COOKIE)
    path = _root(request) + "/signin/oidc"
    try:
        if "error" in params:
            # The issuer refused (or the user cancelled): the pending sign-in is spent too.
            await _directory(request).abandon(pending)
            raise SignInRefused(f"the issuer refused the sign-in: {params['error'][:80]}")
        session, value, target = await _directory(request).complete(
            pending, params.get("state", ""), params.get("code", ""), redirect_uri(request)
        )
    except SignInRefused as error:
        page = await signin_form(request, error.message, 401)
        page.delete_cookie(PENDING_COOKIE, path=path)
        return page
    return await _signed_in(request, session.subject, value, local_target(request, target))


async def _signed_in(request: Request, subject: str, cookie: str, target: str) -> Response:
    """The page that moves on to `target`, setting the new session's cookie."""
    portal = portal_of(request)
    # A session the browser already had ends: one browser, one session.
    await portal.sign_in.sign_out(request.cookies.get(COOKIE))
    page = portal.render(request, "signed_in.html", {"target": target, "subject": subject})
    root = _root(request) or "/"
    page.set_cookie(
        COOKIE, cookie, httponly=True, samesite="strict", secure=over_https(request), path=root
    )
    page.delete_cookie(PENDING_COOKIE, path=_root(request) + "/signin/oidc")
    page.delete_cookie(SIGNIN_COOKIE, path=root)
    return page


def routes() -> list[Route]:
    """The directory sign-in routes."""
    return [
        Route("/signin/oidc", start, methods=["GET"]),
        Route(_CALLBACK, callback, methods=["GET"]),
    ]
