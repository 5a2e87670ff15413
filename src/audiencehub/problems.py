"""Errors over HTTP: one problem-details answer (RFC 9457) for both apps, built in one place,
and the request-size limit that answers with one.

Every error either app answers has the same JSON shape and the media type
``application/problem+json``::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "no template is named 'x'", "hint": "Add it with ..."}

``detail`` is the user's message and ``hint`` what to do about it, the same
words the CLI prints. The exceptions are the protocol answers other standards
fix: the OAuth2 token endpoint answers RFC 6749's ``{"error": ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audiencehub.errors import (
    AudienceHubError,
    Changed,
    ConfigurationError,
    Forbidden,
    InUse,
    InvalidCredentials,
    LegalRestriction,
    NotFound,
    RemoteError,
    StorageError,
    TooManyRequests,
)

__all__ = [
    "MEDIA_TYPE",
    "BodyLimit",
    "HtmlError",
    "install_problem_handlers",
    "problem",
    "status_of",
]

MEDIA_TYPE = "application/problem+json"

# The most specific class first: the first match decides.
_STATUSES: tuple[tuple[type[AudienceHubError], int], ...] = (
    (InvalidCredentials, 401),
    (TooManyRequests, 429),
    (LegalRestriction, 403),
    (Forbidden, 403),
    (NotFound, 404),
    (InUse, 409),
    (Changed, 412),
    (RemoteError, 502),
    (ConfigurationError, 503),
    (StorageError, 503),
)


def status_of(exc: AudienceHubError) -> int:
    """The HTTP status of a user error: 400 unless its kind says otherwise."""
    return next((status for kind, status in _STATUSES if isinstance(exc, kind)), 400)


def problem(
    status: int,
    detail: str,
    *,
    hint: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem-details response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if hint:
        body["hint"] = hint
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


HtmlError = Callable[[Request, int, str, str], Response]


def _for_people(request: Request) -> bool:
    """A page (or a link a person followed), not an API call: answered in HTML."""
    path = request.url.path
    return not path.startswith(
        ("/api/", "/oauth/", "/id", "/optout", "/metrics", "/healthz", "/readyz")
    )


def install_problem_handlers(app: FastAPI, html: HtmlError | None = None) -> None:
    """Answer every user error, validation failure and HTTP error of ``app`` as a problem;
    with ``html``, errors of pages and followed links (anything outside the APIs) are
    answered by it as a page for the person instead."""

    @app.exception_handler(AudienceHubError)
    async def _user_error(request: Request, exc: AudienceHubError) -> Response:
        status = status_of(exc)
        if html is not None and _for_people(request):
            return html(request, status, exc.message, exc.hint)
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return problem(status, exc.message, hint=exc.hint, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"where": ".".join(str(part) for part in error["loc"]), "problem": error["msg"]}
            for error in exc.errors()
        ]
        detail = "; ".join(f"{e['where']}: {e['problem']}" for e in errors)
        if html is not None and _for_people(request):  # a form's field, named as the page does
            named = "; ".join(f"{e['where'].split('.')[-1]}: {e['problem']}" for e in errors)
            return html(request, 422, named, "Go back, correct the fields named and send again.")
        return problem(422, detail, hint="Correct the fields named.", errors=errors)

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, _: DataError) -> Response:
        """A value the database refuses (a NUL in text on PostgreSQL, a number out of range):
        the request's fault, told without quoting the driver."""
        message = "a value of the request cannot be stored"
        hint = "Remove control characters such as NUL from text, and keep numbers in range."
        if html is not None and _for_people(request):
            return html(request, 400, message, hint)
        return problem(400, message, hint=hint)

    @app.exception_handler(Exception)
    async def _internal(request: Request, _: Exception) -> Response:
        """A bug: one plain answer that reveals nothing (the server log has the details)."""
        message = "something went wrong on our side"
        hint = "Try again; if it goes on, tell whoever runs this server (its log has the details)."
        if html is not None and _for_people(request):
            return html(request, 500, message, hint)
        return problem(500, message, hint=hint)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers) if exc.headers else None
        if html is not None and _for_people(request):
            return html(request, exc.status_code, str(exc.detail), "")
        return problem(exc.status_code, str(exc.detail), headers=headers)


class _TooLarge(Exception):
    """A body grew past the limit while it was being read."""


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` before the app holds them.

    A declared ``Content-Length`` over the limit is answered 413 at once, unread;
    a body sent without one is counted as it arrives and cut off at the limit.
    Routes that check credentials first (as a dependency, with no body
    parameter) refuse an unauthenticated caller before reading anything.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            f"the request body is over {self.max_bytes:,} bytes",
            hint="Send less at once (max_request_bytes sets the limit).",
        )
        await response(scope, receive, send)
