"""The campaign app, assembled from its routers: tracking and the triggers API.

Its online writes (clicks, opens, unsubscribes) run through a spool while a bulk
job holds the database; the app's lifespan runs the spool's applier.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from audiencehub.campaign.messaging.online import online_writes
from audiencehub.campaign.messaging.trigger_queue import TriggerQueue
from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.web.tracking import tracking_router
from audiencehub.campaign.web.triggers import triggers_router
from audiencehub.problems import BodyLimit, install_problem_handlers
from audiencehub.spool import Spool, with_appliers

__all__ = ["create_campaign_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_campaign_app(services: CampaignServices, *, lifespan: Lifespan | None = None) -> FastAPI:
    """Build the campaign app on ``services``; errors are problem details, answered in one place.

    ``lifespan`` runs beside the app (the server passes the scheduler).
    """
    online = online_writes(services.online_engine, services.spool_path)
    queue = TriggerQueue(
        services.online_engine,
        services.engine,
        services.messaging,
        services.vault,
        Spool(services.spool_path.with_name("campaign-triggers.db")),
    )

    app = FastAPI(
        title="audiencehub campaign",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        lifespan=with_appliers([online, queue], lifespan),
    )
    app.state.online, app.state.triggers = online, queue  # drained by tests and at shutdown
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_request_bytes)
    app.include_router(tracking_router(services, online))
    app.include_router(triggers_router(services, queue))
    return app
