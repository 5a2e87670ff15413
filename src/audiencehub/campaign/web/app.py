"""The campaign app, assembled from its routers: the web pages, the REST API under
``/api/v1``, tracking and the triggers API.

Its online writes (clicks, opens, unsubscribes) run through a spool while a bulk
job holds the database; the app's lifespan runs the spool's applier.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from fastapi import Depends, FastAPI

from audiencehub.campaign.messaging.online import online_writes
from audiencehub.campaign.messaging.trigger_queue import TriggerQueue
from audiencehub.campaign.schema import audit_log, job_runs
from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.users import Role, actor_named
from audiencehub.campaign.web.access import Access
from audiencehub.campaign.web.api_audiences import audiences_router
from audiencehub.campaign.web.api_data_sources import data_sources_router
from audiencehub.campaign.web.api_messaging import messaging_router
from audiencehub.campaign.web.api_profiles import profiles_router
from audiencehub.campaign.web.api_sharing import sharing_router
from audiencehub.campaign.web.api_users import users_router
from audiencehub.campaign.web.api_workflows import workflows_router
from audiencehub.campaign.web.tracking import tracking_router
from audiencehub.campaign.web.triggers import triggers_router
from audiencehub.campaign.web.ui import install_pages
from audiencehub.problems import install_problem_handlers
from audiencehub.ratelimit import Lockout
from audiencehub.redis_counts import shared_counts
from audiencehub.restapi import create_api_app
from audiencehub.restapi.health import database_check, health_router
from audiencehub.restapi.metrics import instrument
from audiencehub.sign_ins import SignInGate
from audiencehub.spool import Spool, with_appliers
from audiencehub.webui import SecurityHeaders, mount_static

__all__ = ["create_campaign_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_DESCRIPTION = """Campaign's REST API: profiles, audiences (shared ones included), shared
data sources, external accounts, the connection to the people service, workflows,
deliveries and their reports, jobs, the audit trail, and triggered messages.

Authenticate with a personal token (`Authorization: Bearer ahp_...`, made by
`audiencehub tokens create` or `POST /api/v1/tokens`) or sign in
(`POST /api/v1/session`; changes made with the session cookie carry its CSRF token
in `X-CSRF-Token`). A viewer reads; a marketer also imports, shares, runs and
sends; an admin also manages users, settings and data-use terms. Errors are RFC 9457
problem details; lists are cursor-paged (`next_cursor`); a change may send the ETag
it read in `If-Match` and is refused with 412 if the thing changed meanwhile."""


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
    settings = services.settings
    app = create_api_app(
        "audiencehub campaign",
        _DESCRIPTION,
        max_request_bytes=settings.max_request_bytes,
        lifespan=with_appliers([online, queue], lifespan),
    )
    app.state.online, app.state.triggers = online, queue  # drained by tests and at shutdown
    access = Access(services)
    counts = shared_counts(
        settings.limits_redis_url,
        f"campaign {services.engine.url.render_as_string(hide_password=True)}",
    )
    logins = Lockout(
        settings.login_max_failures,
        window=settings.login_lockout_seconds,
        lock=settings.login_lockout_seconds,
        counts=counts,
    )
    retention = timedelta(days=settings.sign_in_retention_days)
    gate = SignInGate(services.engine, audit_log, logins, actor_named, "user", retention)
    spools = {"tracking": online.backlog, "triggers": queue.spool.count}
    app.include_router(health_router([database_check("database", services.engine)], spools))
    instrument(
        app,
        Depends(access.needs(Role.VIEWER)),
        spools=spools,
        engine=services.engine,
        job_runs=job_runs,
    )
    app.include_router(users_router(services, access, gate))
    app.include_router(profiles_router(services, access))
    app.include_router(audiences_router(services, access))
    app.include_router(data_sources_router(services, access))
    app.include_router(sharing_router(services, access))
    app.include_router(workflows_router(services, access))
    app.include_router(messaging_router(services, access))
    app.include_router(triggers_router(services, queue, counts))
    app.include_router(tracking_router(services, online))
    pages = install_pages(app, services, gate)
    install_problem_handlers(app, html=pages.error_page)
    mount_static(app)
    app.add_middleware(SecurityHeaders)
    return app
