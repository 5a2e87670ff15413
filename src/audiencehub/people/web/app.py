"""The people service's HTTP face: visitor ID service, OAuth2 token endpoint, partner API."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import Engine

from audiencehub.config import Settings
from audiencehub.people.online import online_writes
from audiencehub.people.web.idservice import id_service_router
from audiencehub.people.web.partner_api import partner_router
from audiencehub.problems import BodyLimit, install_problem_handlers
from audiencehub.ratelimit import Lockout
from audiencehub.spool import OnlineWrites, with_appliers

__all__ = ["HttpLimits", "create_people_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_people_app(
    engine: Engine,
    *,
    region: int = 6,
    lifespan: Lifespan | None = None,
    limits: HttpLimits | None = None,
    online: OnlineWrites | None = None,
) -> FastAPI:
    """Build the people service app on ``engine``; errors are problem details, from one place.

    ``lifespan`` runs beside the app (the server passes the job scheduler);
    ``limits`` come from the workspace settings (defaults otherwise). ``online``
    carries ``/id``'s writes (the server's spools them while an ingest holds the
    database, and the app's lifespan applies the spool); by default they are
    written directly through ``engine``.
    """
    limits = limits or HttpLimits()
    online = online or online_writes(engine, None)

    app = FastAPI(
        title="audiencehub people service",
        version="0.1.0",
        lifespan=with_appliers([online], lifespan),
    )
    app.state.online = online  # drained by tests and a clean shutdown
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=limits.max_request_bytes)
    app.include_router(id_service_router(engine, online, region=region))
    app.include_router(
        partner_router(
            engine,
            Lockout(
                limits.login_max_failures,
                window=limits.login_lockout_seconds,
                lock=limits.login_lockout_seconds,
            ),
        )
    )
    return app


@dataclass(frozen=True)
class HttpLimits:
    """How much the app reads and how many failed logins it allows (see the settings)."""

    max_request_bytes: int = 1_048_576
    login_max_failures: int = 5
    login_lockout_seconds: int = 900

    @classmethod
    def of(cls, settings: Settings) -> HttpLimits:
        """The limits a workspace's settings set."""
        return cls(
            settings.max_request_bytes,
            settings.login_max_failures,
            settings.login_lockout_seconds,
        )
