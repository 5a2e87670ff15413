"""Who is calling campaign's API, and whether their role allows the route.

Two ways in, one user: a personal token (``Authorization: Bearer ahp_...``) for
scripts, or the session cookie the web UI gets by signing in. A request that
comes with the cookie and changes something (any method but GET, HEAD and
OPTIONS) must also carry the session's CSRF token in ``X-CSRF-Token``: another
site can make the browser send the cookie, never read the token. Bearer tokens
need no CSRF token, since browsers never attach them on their own.

Every route states the role it takes with :func:`needs`; the check runs before
the body is read.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Cookie, Depends, Header, Request

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sessions import SIGN_IN, csrf_token_of, session_user
from audiencehub.campaign.users import (
    TOKEN_PREFIX,
    Role,
    User,
    authenticate_token,
    require,
)
from audiencehub.errors import Forbidden, InvalidCredentials
from audiencehub.webui.guard import CSRF_HEADER

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "Access"]

SESSION_COOKIE = "audiencehub_session"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_HINT = (
    "Send Authorization: Bearer <a personal token (audiencehub tokens create, or POST "
    "/api/v1/tokens)>, or sign in (POST /api/v1/session)."
)


class Access:
    """The authentication of one app: ``needs(role)`` makes a route's dependency."""

    def __init__(self, services: CampaignServices) -> None:
        self.services = services

    def caller(self) -> Callable[..., User]:
        """A dependency that answers the calling user (401 when there is none)."""
        services = self.services

        def user(
            request: Request,
            authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
            session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
            csrf: Annotated[str | None, Header(alias=CSRF_HEADER, include_in_schema=False)] = None,
        ) -> User:
            if authorization:
                token = authorization.removeprefix("Bearer ").strip()
                if not authorization.startswith("Bearer ") or not token.startswith(TOKEN_PREFIX):
                    raise InvalidCredentials("the bearer token is not a personal token", hint=_HINT)
                with services.engine.begin() as connection:
                    return authenticate_token(connection, token)
            if session:
                with services.engine.connect() as connection:
                    found = session_user(connection, session)
                if request.method not in _SAFE and not hmac.compare_digest(
                    (csrf or "").encode(), csrf_token_of(session).encode()
                ):
                    raise Forbidden(
                        f"a change made with the session cookie needs its {CSRF_HEADER} header",
                        hint="Send the csrf_token the sign-in answered in the X-CSRF-Token "
                        "header. " + SIGN_IN,
                    )
                return found
            raise InvalidCredentials("the request is not authenticated", hint=_HINT)

        return user

    def needs(self, role: Role) -> Callable[..., User]:
        """A dependency that answers the caller if their role is ``role`` or above."""
        caller = self.caller()

        def allowed(user: Annotated[User, Depends(caller)]) -> User:
            require(user, role)
            return user

        return allowed
