"""The people service's HTTP face: visitor ID service, OAuth2 token endpoint, partner API."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from sqlalchemy import Engine

from audiencehub.people.web.idservice import id_service_router
from audiencehub.people.web.partner_api import partner_router
from audiencehub.problems import install_problem_handlers

__all__ = ["create_people_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_people_app(
    engine: Engine, *, region: int = 6, lifespan: Lifespan | None = None
) -> FastAPI:
    """Build the people service app on ``engine``; errors are problem details, from one place.

    ``lifespan`` runs beside the app (the server passes the job scheduler).
    """
    app = FastAPI(title="audiencehub people service", version="0.1.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(id_service_router(engine, region=region))
    app.include_router(partner_router(engine))
    return app
