"""The sign-in and sign-out pages, and the progress of tasks, for either app.

What signs in differs (a campaign user's name and password, a people client's
id and secret); the pages, the lockout after failed attempts and the audit trail
(:class:`~audiencehub.sign_ins.SignInGate`) and the cookie do not. The cookie is
HttpOnly, SameSite=Strict and Secure over HTTPS.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from audiencehub.errors import InvalidCredentials, TooManyRequests
from audiencehub.sign_ins import SignInGate
from audiencehub.webui.guard import local_path
from audiencehub.webui.pages import Pages
from audiencehub.webui.tasks import Tasks

__all__ = ["SignIn", "signin_router"]


class SignIn:
    """How one app signs people in: ``start(connection, name, secret)`` opens a session and
    answers its cookie value (or raises :class:`InvalidCredentials`), through ``gate``;
    ``end(connection, token)`` closes one and answers whose it was (None: nobody's)."""

    def __init__(
        self,
        cookie: str,
        max_age: int,
        gate: SignInGate,
        start: Callable[[Connection, str, str], str],
        end: Callable[[Connection, str], str | None],
        labels: tuple[str, str] = ("User name", "Password"),
    ) -> None:
        self.cookie, self.max_age, self.gate, self.start, self.end, self.labels = (
            cookie,
            max_age,
            gate,
            start,
            end,
            labels,
        )


def signin_router(
    pages: Pages,
    sign_in: SignIn,
    signed_in: Callable[[Request], Awaitable[Any]],
    tasks: Tasks,
) -> APIRouter:
    """``/login``, ``/logout`` and ``/tasks/{id}`` (a task's state, for polling)."""
    router = APIRouter(include_in_schema=False)

    def form(request: Request, status: int = 200, **context: object) -> Response:
        values = {
            "name_label": sign_in.labels[0],
            "password_label": sign_in.labels[1],
            "name": "",
            "error": "",
            "hint": "",
            "next": local_path(request.query_params.get("next")),
            **context,
        }
        return pages.render(request, "login.html", values, status_code=status)

    @router.get("/login")
    def login_page(request: Request) -> Response:
        return form(request)

    @router.post("/login")
    def login(
        request: Request,
        name: Annotated[str, Form(max_length=255)],
        password: Annotated[str, Form(max_length=1024)],
        next_path: Annotated[str, Form(alias="next", max_length=2048)] = "/",
    ) -> Response:
        address = request.client.host if request.client else ""
        try:
            token = sign_in.gate.attempt(
                name, address, "pages", lambda connection: sign_in.start(connection, name, password)
            )
        except TooManyRequests as exc:
            hint = f"Try again in {exc.retry_after} seconds."
            return form(request, 429, name=name, error="Too many failed sign-ins.", hint=hint)
        except InvalidCredentials as exc:
            return form(request, 401, name=name, error=exc.message, hint=exc.hint)
        response = RedirectResponse(local_path(next_path), status_code=303)
        response.set_cookie(
            sign_in.cookie,
            token,
            max_age=sign_in.max_age,
            httponly=True,
            secure=request.url.scheme == "https",
            samesite="strict",
            path="/",
        )
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        await signed_in(request)
        token = request.cookies.get(sign_in.cookie, "")
        address = request.client.host if request.client else ""
        sign_in.gate.sign_out(address, "pages", lambda connection: sign_in.end(connection, token))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(sign_in.cookie, path="/")
        return response

    @router.get("/tasks/{task_id}")
    async def task_state(task_id: int, request: Request) -> Response:
        await signed_in(request)
        task = tasks.get(task_id)
        if task is None:
            return Response("<p>That task is no longer followed.</p>", media_type="text/html")
        return pages.render(request, "task.html", {"task": task})

    return router
