"""The people service's HTTP face: visitor ID service, OAuth2 token endpoint, the partner
API and the administration API."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from audiencehub.config import Settings
from audiencehub.people.clients import ClientRole, actor_named
from audiencehub.people.online import online_writes
from audiencehub.people.schema import audit_log, job_runs
from audiencehub.people.web.admin_api import admin_router
from audiencehub.people.web.client_auth import client_with
from audiencehub.people.web.idservice import id_service_router
from audiencehub.people.web.operations_api import JobRunner, operations_router
from audiencehub.people.web.partner_api import partner_router
from audiencehub.people.web.ui import install_people_pages
from audiencehub.problems import install_problem_handlers
from audiencehub.ratelimit import AddressLimit, Lockout, RateLimiter
from audiencehub.redis_counts import shared_counts
from audiencehub.restapi import create_api_app
from audiencehub.restapi.health import database_check, health_router
from audiencehub.restapi.metrics import instrument
from audiencehub.sign_ins import SignInGate
from audiencehub.spool import OnlineWrites, with_appliers
from audiencehub.webui import SecurityHeaders, mount_static

__all__ = ["HttpLimits", "create_people_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_people_app(
    engine: Engine,
    *,
    region: int = 6,
    lifespan: Lifespan | None = None,
    limits: HttpLimits | None = None,
    online: OnlineWrites | None = None,
    jobs: JobRunner | None = None,
) -> FastAPI:
    """Build the people service app on ``engine``; errors are problem details, from one place.

    ``lifespan`` runs beside the app (the server passes the job scheduler);
    ``limits`` come from the workspace settings (defaults otherwise). ``online``
    carries ``/id``'s writes (the server's spools them while an ingest holds the
    database, and the app's lifespan applies the spool); by default they are
    written directly through ``engine``. ``jobs`` runs a job now (the server passes
    the workspace's); without it, *run now* answers that the server cannot.
    """
    limits = limits or HttpLimits()
    online = online or online_writes(engine, None)

    app = create_api_app(
        "audiencehub people service",
        _DESCRIPTION,
        max_request_bytes=limits.max_request_bytes,
        lifespan=with_appliers([online], lifespan),
    )
    app.state.online = online  # drained by tests and a clean shutdown
    admits = client_with(engine)
    counts = shared_counts(
        limits.limits_redis_url, f"people {engine.url.render_as_string(hide_password=True)}"
    )
    logins = Lockout(
        limits.login_max_failures,
        window=limits.login_lockout_seconds,
        lock=limits.login_lockout_seconds,
        counts=counts,
    )
    retention = timedelta(days=limits.sign_in_retention_days)
    gate = SignInGate(engine, audit_log, logins, actor_named, "client", retention, lock_names=False)
    spools = {"id": online.backlog}
    app.include_router(health_router([database_check("database", engine)], spools))
    instrument(
        app,
        Depends(admits(ClientRole.VIEWER, ClientRole.ADMIN)),
        spools=spools,
        engine=engine,
        job_runs=job_runs,
    )
    app.include_router(
        id_service_router(
            engine,
            online,
            region=region,
            limit=AddressLimit(
                limits.id_requests_per_minute,
                limits.id_unlimited_networks,
                name="id",
                counts=counts,
            ),
        )
    )
    app.include_router(
        partner_router(
            engine,
            gate,
            admits,
            RateLimiter(limits.token_requests_per_minute, name="tokens", counts=counts),
        )
    )
    app.include_router(admin_router(engine, admits))
    app.include_router(operations_router(engine, admits, jobs))
    install_problem_handlers(app, html=install_people_pages(app, engine, gate, jobs))
    mount_static(app)
    app.add_middleware(SecurityHeaders)
    return app


_DESCRIPTION = """The people service: the visitor ID service (`/id`), the OAuth2 token
endpoint (`POST /oauth/token`, client credentials), the partner routes campaign's
connection uses (shared audiences) and the administration API (data sources, traits,
segments with their sizes, destinations, ingest receipts, publications, API clients).

Every `/api/v1` route takes a bearer token from `/oauth/token`. A client's role decides
what it may call: a *partner* lists and creates shared audiences, a *viewer* reads the
administration API, an *admin* also changes it. Errors are RFC 9457 problem details
(the token endpoint answers RFC 6749's errors); lists are cursor-paged; a change may
send the ETag it read in `If-Match`."""


@dataclass(frozen=True)
class HttpLimits:
    """How much the app reads, how many failed logins and ID service requests it allows,
    where they are counted, and how long sign-ins stay in the trail (see the settings)."""

    max_request_bytes: int = 1_048_576
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    id_requests_per_minute: int = 1200
    id_unlimited_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    limits_redis_url: str | None = None  # where every process counts them (None: each its own)
    sign_in_retention_days: int = 365  # how long the trail keeps sign-ins
    token_requests_per_minute: int = 60  # tokens one client may take

    @classmethod
    def of(cls, settings: Settings) -> HttpLimits:
        """The limits a workspace's settings set."""
        return cls(
            settings.max_request_bytes,
            settings.login_max_failures,
            settings.login_lockout_seconds,
            settings.id_requests_per_minute,
            tuple(settings.id_unlimited_networks),
            settings.limits_redis_url,
            settings.sign_in_retention_days,
            settings.token_requests_per_minute,
        )
