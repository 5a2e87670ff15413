"""The campaign app, assembled from its routers: tracking and the triggers API.

Its online writes (clicks, opens, unsubscribes) run through a spool while a bulk
job holds the database; the app's lifespan runs the spool's applier.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from audiencehub.campaign.messaging.online import online_writes
from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.web.tracking import tracking_router
from audiencehub.campaign.web.triggers import triggers_router
from audiencehub.problems import BodyLimit, install_problem_handlers
from audiencehub.spool import with_appliers

__all__ = ["create_campaign_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_campaign_app(services: CampaignServices, *, lifespan: Lifespan | None = None) -> FastAPI:
    """Build the campaign app on ``services``; errors are problem details, answered in one place.

    ``lifespan`` runs beside the app (the server passes the scheduler).
    """
    online = online_writes(services.online_engine, services.spool_path)

    app = FastAPI(
        title="audiencehub campaign",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        lifespan=with_appliers([online], lifespan),
    )
    app.state.online = online  # drained by tests and a clean shutdown
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_request_bytes)
    app.include_router(tracking_router(services, online))
    app.include_router(triggers_router(services))
    return app
