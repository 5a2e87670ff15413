"""``GET /metrics``: what an app has done, in Prometheus's text format, for the monitor
of whoever runs it.

Each app keeps its own registry (both run in one process under ``audiencehub
serve``): requests by method, route template and status, with their latency;
the online events waiting in its spools; and its scheduled jobs' latest runs,
read from the job history at each scrape, so a run made by the command line or
another server counts too. Routes are labelled by their template
(``/api/v1/profiles/{key}``), never by the path asked: labels stay few
whatever callers send, and no ID or email reaches the monitor. The endpoint
takes the app's own credentials (a viewer's), as every API call does.

Counters are the serving process's own: with several workers (``uvicorn
--workers``), scrape each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from fastapi import APIRouter, FastAPI, Response
from fastapi.params import Depends
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Table
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audiencehub.db.job_runs import last_successes, latest_runs
from audiencehub.restapi.apps import example

__all__ = ["instrument"]

_EXAMPLE = (
    "# HELP audiencehub_http_requests_total Requests answered, by method, route and status.\n"
    "# TYPE audiencehub_http_requests_total counter\n"
    'audiencehub_http_requests_total{method="GET",route="/api/v1/audiences",status="200"} 3.0\n'
)


class _RequestMetrics:
    """Counts every HTTP request and times it, by its route's template."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            # the router names the route it chose in the scope; no route: one label
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope["method"])
            self.requests.labels(method, route, str(status[0])).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)


class _State:
    """The spools' backlogs and the jobs' latest runs, read at each scrape."""

    def __init__(
        self, spools: Mapping[str, Callable[[], int]], engine: Engine, job_runs: Table
    ) -> None:
        self.spools, self.engine, self.job_runs = spools, engine, job_runs

    def collect(self) -> Iterator[GaugeMetricFamily]:
        spooled = GaugeMetricFamily(
            "audiencehub_spooled_events",
            "Online events waiting in a spool for the database (written while a bulk job held it).",
            labels=["spool"],
        )
        for name, count in self.spools.items():
            spooled.add_metric([name], count())
        yield spooled
        started = GaugeMetricFamily(
            "audiencehub_job_last_start_timestamp_seconds",
            "When each job's latest run started (Unix time).",
            labels=["job"],
        )
        duration = GaugeMetricFamily(
            "audiencehub_job_last_duration_seconds",
            "How long each job's latest run took.",
            labels=["job"],
        )
        failed = GaugeMetricFamily(
            "audiencehub_job_last_run_failed",
            "1 when each job's latest run failed, else 0.",
            labels=["job"],
        )
        for job, run in sorted(latest_runs(self.engine, self.job_runs).items()):
            started.add_metric([job], run.started_at.timestamp())
            duration.add_metric([job], (run.ended_at - run.started_at).total_seconds())
            failed.add_metric([job], 0 if run.status == "succeeded" else 1)
        yield from (started, duration, failed)
        succeeded = GaugeMetricFamily(
            "audiencehub_job_last_success_timestamp_seconds",
            "When each job's latest successful run ended (Unix time): alert on its age.",
            labels=["job"],
        )
        for job, ended in sorted(last_successes(self.engine, self.job_runs).items()):
            succeeded.add_metric([job], ended.timestamp())
        yield succeeded


def instrument(
    app: FastAPI,
    viewer: Depends,
    *,
    spools: Mapping[str, Callable[[], int]],
    engine: Engine,
    job_runs: Table,
) -> None:
    """Count ``app``'s requests and serve ``GET /metrics`` to callers ``viewer`` admits,
    with ``spools`` (name -> events waiting) and the latest runs and successes of the
    jobs recorded in ``engine``'s ``job_runs``."""
    registry = CollectorRegistry()
    requests = Counter(
        "audiencehub_http_requests",
        "Requests answered, by method, route and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "audiencehub_http_request_duration_seconds",
        "Time to answer a request, by method and route.",
        ["method", "route"],
        registry=registry,
    )
    state: Collector = _State(spools, engine, job_runs)
    registry.register(state)
    app.add_middleware(_RequestMetrics, requests=requests, latency=latency)
    router = APIRouter(tags=["health"])

    @router.get(
        "/metrics",
        dependencies=[viewer],
        response_class=Response,
        responses=example(200, _EXAMPLE, "text/plain"),
    )
    def metrics() -> Response:
        """What the app has done, in Prometheus's text format: requests by route and status
        with their latency, spooled events, and the scheduled jobs' latest runs."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
