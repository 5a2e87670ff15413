"""The guard every page passes, for whoever signs in (a campaign user, a people client).

A page asked for without a live session redirects to the sign-in page and
back; a request that changes something must carry the session's CSRF token (a
hidden form field, or the header ``app.js`` adds to htmx requests). After
sign-in, only a path on this site is followed (no open redirect).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from audiencehub.errors import Forbidden, InvalidCredentials
from audiencehub.webui.credentials import csrf_token_of

__all__ = ["CSRF_HEADER", "SignInNeeded", "guard", "local_path", "sign_in_redirect"]

CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
Who = TypeVar("Who")


class SignInNeeded(Exception):
    """A page was asked for without a live session."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/`` (never another site)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def sign_in_redirect(request: Request, exc: Exception) -> Response:
    """To the sign-in page and back; htmx follows ``HX-Redirect`` instead of swapping."""
    next_path = exc.next_path if isinstance(exc, SignInNeeded) else "/"
    target = f"/login?next={quote(next_path)}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def guard(
    cookie: str, lookup: Callable[[str], Who], allows: Callable[[Who], None]
) -> Callable[[Request], Awaitable[Who]]:
    """A page dependency: whoever ``lookup`` finds for the session cookie, if ``allows``
    lets them in; the CSRF token is checked on unsafe methods. The request's state
    carries them and the token, for the templates."""

    async def signed_in(request: Request) -> Who:
        session = request.cookies.get(cookie)
        if not session:
            raise SignInNeeded(request.url.path)
        try:
            who = lookup(session)
        except InvalidCredentials:
            raise SignInNeeded(request.url.path) from None
        expected = csrf_token_of(session)
        if request.method not in _SAFE:
            given = request.headers.get(CSRF_HEADER)
            if given is None:
                field = (await request.form()).get("csrf_token")
                given = field if isinstance(field, str) else ""
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise Forbidden(
                    "the form is stale or did not come from this site",
                    hint="Reload the page and try again.",
                )
        request.state.user, request.state.csrf_token = who, expected
        allows(who)
        return who

    return signed_in
