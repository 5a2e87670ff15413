"""The people service's HTTP face: visitor ID service, OAuth2 token endpoint, partner API."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from audiencehub.errors import AudienceHubError, NotFound
from audiencehub.people.clients import InvalidCredentials
from audiencehub.people.web.idservice import id_service_router
from audiencehub.people.web.partner_api import partner_router

__all__ = ["create_people_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_people_app(
    engine: Engine, *, region: int = 6, lifespan: Lifespan | None = None
) -> FastAPI:
    """Build the people service app on ``engine``; errors become JSON problems in one place.

    ``lifespan`` runs beside the app (the server passes the job scheduler).
    """
    app = FastAPI(title="audiencehub people service", version="0.1.0", lifespan=lifespan)
    app.include_router(id_service_router(engine, region=region))
    app.include_router(partner_router(engine))

    @app.exception_handler(AudienceHubError)
    async def _problem(request: Request, exc: AudienceHubError) -> JSONResponse:
        if isinstance(exc, InvalidCredentials):
            return JSONResponse(
                {"error": "invalid_token", "error_description": exc.message},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        status = 404 if isinstance(exc, NotFound) and request.url.path.startswith("/api/") else 400
        return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)

    return app
