"""Signing in and out, users and personal tokens, over ``/api/v1``.

Signing in sets the session cookie (HttpOnly, SameSite=Strict, Secure over
HTTPS) and answers the CSRF token the UI sends with every change. Failed
sign-ins lock the user name and the address out for a while, like the people
service's token endpoint, and every sign-in and refusal is in the audit trail. An
admin manages users; everyone manages their own tokens, and an admin anyone's.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Path, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sessions import Session, end_session, start_session
from audiencehub.campaign.users import (
    Role,
    Token,
    User,
    actor_of,
    add_user,
    authenticate_password,
    create_token,
    disable_user,
    get_user,
    list_tokens,
    list_users,
    revoke_token,
    set_password,
    set_role,
)
from audiencehub.campaign.web.access import SESSION_COOKIE, Access
from audiencehub.errors import Forbidden
from audiencehub.restapi import Cursor, Limit, Page, check_if_match, page_of, with_etag
from audiencehub.restapi.apps import example
from audiencehub.sign_ins import SignInGate

__all__ = ["users_router"]


_USER = {
    "id": 1,
    "name": "mara",
    "role": "marketer",
    "disabled": False,
    "created_at": "2026-12-02T09:00:00Z",
}


class SignIn(BaseModel):
    """A user name and password."""

    name: str = Field(min_length=1, max_length=255, examples=["mara"])
    password: str = Field(min_length=1, max_length=1024, examples=["correct horse battery"])


class SignedIn(BaseModel):
    """Who signed in, and the CSRF token every change made with the cookie must carry."""

    user: User
    csrf_token: str
    expires_at: datetime


class NewUser(BaseModel):
    """A user to create; the password is kept only as its argon2 hash."""

    name: str = Field(min_length=1, max_length=255, examples=["mara"])
    password: str = Field(min_length=12, max_length=1024, examples=["correct horse battery"])
    role: Role = Field(default=Role.VIEWER, examples=["marketer"])


class UserChange(BaseModel):
    """What an admin changes of a user; absent fields stay."""

    role: Role | None = Field(default=None, examples=["admin"])
    password: str | None = Field(default=None, min_length=12, max_length=1024)
    disabled: bool | None = Field(default=None, examples=[True])


class NewToken(BaseModel):
    """A personal token to create, named for what uses it."""

    name: str = Field(min_length=1, max_length=255, examples=["nightly export script"])
    user: str | None = Field(
        default=None, description="Whose token (an admin may name another user)."
    )


class CreatedToken(BaseModel):
    """A new token: shown this once, stored only as its digest."""

    id: int
    token: str


def users_router(services: CampaignServices, access: Access, gate: SignInGate) -> APIRouter:
    """Session, user and token routes."""
    router = APIRouter(prefix="/api/v1")
    viewer, admin = access.needs(Role.VIEWER), access.needs(Role.ADMIN)
    engine = services.engine

    @router.post("/session", tags=["session"])
    def sign_in(body: SignIn, request: Request, response: Response) -> SignedIn:
        """Sign in with a name and password: sets the session cookie."""
        lifetime = timedelta(hours=services.settings.session_hours)

        def start(connection: Connection) -> tuple[User, Session]:
            user = authenticate_password(connection, body.name, body.password)
            return user, start_session(connection, user, lifetime)

        address = request.client.host if request.client else ""
        user, session = gate.attempt(body.name, address, "API", start)
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            max_age=services.settings.session_hours * 3600,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="strict",
            path="/",
        )
        response.headers["Cache-Control"] = "no-store"
        return SignedIn(user=user, csrf_token=session.csrf_token, expires_at=session.expires_at)

    @router.get(
        "/session",
        tags=["session"],
        responses=example(200, _USER),
    )
    def whoami(user: Annotated[User, Depends(viewer)]) -> User:
        """The signed-in user (or the token's)."""
        return user

    @router.delete(
        "/session",
        tags=["session"],
        status_code=204,
        responses=example(204, "", "text/plain", "Signed out; the cookie is cleared."),
    )
    def sign_out(
        request: Request,
        response: Response,
        _: Annotated[User, Depends(viewer)],
        session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
    ) -> None:
        """Sign out: the session stops working at once."""
        if session:
            address = request.client.host if request.client else ""
            gate.sign_out(address, "API", lambda connection: end_session(connection, session))
        response.delete_cookie(SESSION_COOKIE, path="/")

    @router.get("/users", tags=["users"])
    def users(
        _: Annotated[User, Depends(admin)], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[User]:
        """Every user (admins only)."""
        with engine.connect() as connection:
            return page_of(list_users(connection), lambda u: u["name"], cursor, limit)

    @router.post("/users", tags=["users"], status_code=201)
    def create_user(body: NewUser, me: Annotated[User, Depends(admin)]) -> User:
        """Create a user (admins only)."""
        with engine.begin() as connection:
            return add_user(connection, body.name, body.password, body.role, actor=actor_of(me))

    @router.get(
        "/users/{name}",
        tags=["users"],
        responses=example(200, _USER),
    )
    def show_user(name: str, response: Response, _: Annotated[User, Depends(admin)]) -> User:
        """One user, with its ETag."""
        with engine.connect() as connection:
            return with_etag(response, get_user(connection, name))

    @router.patch("/users/{name}", tags=["users"])
    def change_user(
        name: str,
        body: UserChange,
        request: Request,
        response: Response,
        me: Annotated[User, Depends(admin)],
    ) -> User:
        """Change a user's role or password, or disable them (admins only)."""
        if name == me["name"] and (body.disabled or (body.role and body.role != Role.ADMIN)):
            raise Forbidden(
                "an admin cannot disable or demote themselves",
                hint="Ask another admin, so the workspace always keeps one.",
            )
        with engine.begin() as connection:
            check_if_match(request.headers.get("if-match"), get_user(connection, name))
            if body.role is not None:
                set_role(connection, name, body.role, actor=actor_of(me))
            if body.password is not None:
                set_password(connection, name, body.password, actor=actor_of(me))
            if body.disabled:
                disable_user(connection, name, actor=actor_of(me))
            return with_etag(response, get_user(connection, name))

    @router.get("/tokens", tags=["tokens"])
    def tokens(
        me: Annotated[User, Depends(viewer)], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[Token]:
        """Personal tokens (never the tokens themselves): one's own, or every one for admins."""
        owner = None if me["role"] == Role.ADMIN else me["name"]
        with engine.connect() as connection:
            found = list_tokens(connection, owner)
        return page_of(found, lambda t: -t["id"], cursor, limit)

    @router.post("/tokens", tags=["tokens"], status_code=201)
    def make_token(body: NewToken, me: Annotated[User, Depends(viewer)]) -> CreatedToken:
        """Create a personal token; the answer is the only time it is shown."""
        owner = body.user or me["name"]
        if owner != me["name"] and me["role"] != Role.ADMIN:
            raise Forbidden("only an admin makes tokens for another user")
        with engine.begin() as connection:
            token_id, token = create_token(connection, owner, body.name, actor=actor_of(me))
        return CreatedToken(id=token_id, token=token)

    @router.delete("/tokens/{token_id}", tags=["tokens"], status_code=204)
    def drop_token(
        token_id: Annotated[int, Path(ge=1, le=2**62, examples=[7])],
        me: Annotated[User, Depends(viewer)],
    ) -> None:
        """Revoke a token (one's own, or any for admins)."""
        with engine.begin() as connection:
            mine = any(t["id"] == token_id for t in list_tokens(connection, me["name"]))
            if not mine and me["role"] != Role.ADMIN:
                raise Forbidden(f"token {token_id} is not yours")
            revoke_token(connection, token_id, actor=actor_of(me))

    return router
