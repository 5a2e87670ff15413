"""Builds the ASGI apps and serves them, with the scheduler beside them.

``audiencehub serve`` runs both apps in one process and one scheduler loop for
both systems; ``people serve`` runs the people app with its own jobs; the
``uvicorn --factory`` entry point runs extra campaign workers without a
scheduler (several workers would each run it).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence

import uvicorn
from fastapi import FastAPI

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.web.app import create_campaign_app
from audiencehub.db import System
from audiencehub.errors import ConfigurationError
from audiencehub.people.online import online_writes as people_online_writes
from audiencehub.people.web.app import HttpLimits, create_people_app
from audiencehub.runtime.scheduler import (
    DueWork,
    campaign_work,
    people_jobs,
    people_work,
    run_scheduler,
)
from audiencehub.workspace import Workspace, open_workspace

__all__ = [
    "build_campaign_server",
    "build_people_server",
    "campaign_app_from_env",
    "quiet_access_log",
    "serve",
    "serve_people",
    "tune_gc_for_serving",
]


class _WithoutQueryStrings(logging.Filter):
    """Drop the query string from access-log lines: ``/id`` carries declared IDs in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            args[2] = str(args[2]).split("?", 1)[0]
            record.args = tuple(args)
        return True


def quiet_access_log() -> None:
    """Keep personal data out of the access log (a serving entry point calls it)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _WithoutQueryStrings) for f in access.filters):
        access.addFilter(_WithoutQueryStrings())


def _with_scheduler(sources: Sequence[DueWork]) -> contextlib.AbstractAsyncContextManager[None]:
    """A lifespan that runs the scheduler loop over ``sources`` while the app lives."""

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        task = asyncio.create_task(run_scheduler(sources)) if sources else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan()


def build_campaign_server(workspace: Workspace, *, scheduler: bool = True) -> FastAPI:
    """The campaign app of ``workspace``: tracking, triggers, and (with ``scheduler``) the
    hourly importSharedAudience and exportSharedAudience jobs and scheduled workflows."""
    services = CampaignServices.of(workspace)
    sources = [campaign_work(services)] if scheduler else []
    return create_campaign_app(services, lifespan=lambda _: _with_scheduler(sources))


def build_people_server(workspace: Workspace, *, scheduler: bool = True) -> FastAPI:
    """The people service app of ``workspace``, with its job scheduler unless told otherwise."""
    sources = [people_work(workspace.people, workspace.settings)] if scheduler else []
    return create_people_app(
        workspace.people,
        lifespan=lambda _: _with_scheduler(sources),
        jobs=people_jobs(workspace.people, workspace.settings),
        limits=HttpLimits.of(workspace.settings),
        online=people_online_writes(
            workspace.online_engine(System.PEOPLE), workspace.spool_path(System.PEOPLE)
        ),
    )


def campaign_app_from_env() -> FastAPI:
    """The campaign app of ``$AUDIENCEHUB_WORKSPACE``, for ``uvicorn --factory --workers N``.

    Without the scheduler: several workers would each run it; jobs and
    scheduled workflows run in ``audiencehub serve``.
    """
    app = build_campaign_server(open_workspace(), scheduler=False)
    quiet_access_log()
    tune_gc_for_serving()
    return app


def tune_gc_for_serving() -> None:
    """Keep collector pauses out of request latency (measured: p99 of clicks 56 ms -> 15 ms).

    The long-lived objects built at start-up are frozen out of collection, and
    young collections run less often, so each costs little. A serving entry
    point calls it; library code never does.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _require_free(host: str, port: int, option: str) -> None:
    """Refuse to start on a port something else holds: one line that says which, not a
    traceback from the event loop."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve on {host}:{port}: {exc.strerror or exc} (choose another with "
                f"{option})",
                hint="",
            ) from exc


def serve(
    workspace: Workspace,
    *,
    host: str,
    campaign_port: int,
    people_port: int,
    ready: Callable[[], object] = lambda: None,
) -> None:
    """Serve campaign and the people service together, with one scheduler loop for both;
    ``ready`` is called once the ports are known to be free."""
    _require_free(host, campaign_port, "--campaign-port")
    _require_free(host, people_port, "--people-port")
    ready()
    campaign = build_campaign_server(workspace, scheduler=False)
    people = build_people_server(workspace, scheduler=False)
    sources = [
        campaign_work(CampaignServices.of(workspace)),
        people_work(workspace.people, workspace.settings),
    ]
    servers = [
        uvicorn.Server(uvicorn.Config(campaign, host=host, port=campaign_port)),
        uvicorn.Server(uvicorn.Config(people, host=host, port=people_port)),
    ]
    quiet_access_log()  # after the configs, which set up uvicorn's loggers
    tune_gc_for_serving()

    async def run_all() -> None:
        scheduler = asyncio.create_task(run_scheduler(sources))
        try:
            await asyncio.gather(*(server.serve() for server in servers))
        finally:
            scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduler

    asyncio.run(run_all())


def serve_people(workspace: Workspace, *, host: str, port: int, scheduler: bool = True) -> None:
    """Serve the people service alone, with its job scheduler unless told otherwise."""
    _require_free(host, port, "--port")
    app = build_people_server(workspace, scheduler=scheduler)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info"))
    quiet_access_log()
    tune_gc_for_serving()
    server.run()
