"""The campaign app, assembled from its routers: tracking and the triggers API."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.web.tracking import tracking_router
from audiencehub.campaign.web.triggers import triggers_router
from audiencehub.problems import BodyLimit, install_problem_handlers

__all__ = ["create_campaign_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_campaign_app(services: CampaignServices, *, lifespan: Lifespan | None = None) -> FastAPI:
    """Build the campaign app on ``services``; errors are problem details, answered in one place.

    ``lifespan`` runs beside the app (the server passes the scheduler).
    """
    app = FastAPI(
        title="audiencehub campaign",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_request_bytes)
    app.include_router(tracking_router(services))
    app.include_router(triggers_router(services))
    return app
