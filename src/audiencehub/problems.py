"""Errors over HTTP: one problem-details answer (RFC 9457) for both apps, built in one place.

Every error either app answers has the same JSON shape and the media type
``application/problem+json``::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "no template is named 'x'", "hint": "Add it with ..."}

``detail`` is the user's message and ``hint`` what to do about it, the same
words the CLI prints. The exceptions are the protocol answers other standards
fix: the OAuth2 token endpoint answers RFC 6749's ``{"error": ...}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from audiencehub.errors import (
    AudienceHubError,
    ConfigurationError,
    InvalidCredentials,
    LegalRestriction,
    NotFound,
    RemoteError,
    StorageError,
)

__all__ = ["MEDIA_TYPE", "install_problem_handlers", "problem", "status_of"]

MEDIA_TYPE = "application/problem+json"

# The most specific class first: the first match decides.
_STATUSES: tuple[tuple[type[AudienceHubError], int], ...] = (
    (InvalidCredentials, 401),
    (LegalRestriction, 403),
    (NotFound, 404),
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


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every user error, validation failure and HTTP error of ``app`` as a problem."""

    @app.exception_handler(AudienceHubError)
    async def _user_error(_: Request, exc: AudienceHubError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
        return problem(status, exc.message, hint=exc.hint, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"where": ".".join(str(part) for part in error["loc"]), "problem": error["msg"]}
            for error in exc.errors()
        ]
        detail = "; ".join(f"{e['where']}: {e['problem']}" for e in errors)
        return problem(422, detail, hint="Correct the fields named.", errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), headers=headers)
