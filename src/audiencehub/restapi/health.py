"""Health probes for whoever runs the apps (a load balancer, Kubernetes, a monitor).

``GET /healthz`` answers as long as the process serves requests and looks at
nothing else: a liveness probe that restarts a server whose database is down
would only add restarts to the outage. ``GET /readyz`` runs the app's checks
(each with a time limit, so a database that hangs fails the probe rather than
holding it) and says how many online events wait in each spool; it answers 503
with the same body as a problem while a check fails. Neither needs credentials,
and neither says more than a check's name and state: why one fails goes to the
server's log, where URLs and errors belong, not to whoever can reach the port.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import Engine, text

from audiencehub import __version__
from audiencehub.problems import problem
from audiencehub.restapi.apps import example, problem_responses

__all__ = ["Check", "database_check", "health_router"]

_log = logging.getLogger(__name__)

#: seconds a check may take before it counts as failing
CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    """Something the app needs to serve: ``run`` raises (or hangs) when it is not there."""

    name: str
    run: Callable[[], object]


def database_check(name: str, engine: Engine) -> Check:
    """The database behind ``engine`` answers a query."""

    def run() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return Check(name, run)


class Liveness(BaseModel):
    """The process serves requests."""

    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    """Every check passed; ``spooled``: the online events waiting in each spool (written
    while a bulk job held the database, applied as soon as it is free; -1 when the
    spool cannot be read)."""

    status: Literal["ready"]
    checks: dict[str, str]
    spooled: dict[str, int]


def health_router(checks: Sequence[Check], spools: Mapping[str, Callable[[], int]]) -> APIRouter:
    """``/healthz`` and ``/readyz`` for an app with ``checks`` and ``spools`` (name -> how
    many events wait)."""
    router = APIRouter(tags=["health"])
    version = __version__

    @router.get("/healthz", responses=example(200, {"status": "ok", "version": version}))
    def healthz() -> Liveness:
        """Liveness: the process answers. Nothing it depends on is checked."""
        return Liveness(status="ok", version=version)

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={
            **example(
                200,
                {"status": "ready", "checks": {"database": "ok"}, "spooled": {"clicks": 0}},
            ),
            **problem_responses(503),
        },
    )
    def readyz() -> Any:
        """Readiness: every check passes (503 while one fails, with each check's state)."""
        states = {check.name: _state(check) for check in checks}
        failing = sorted(name for name, state in states.items() if state != "ok")
        if failing:
            return problem(
                503,
                f"not ready: {', '.join(failing)} failing",
                hint="The server's log says why; the probe passes again once it is back.",
                checks=states,
            )
        waiting = {name: _count(name, count) for name, count in spools.items()}
        return Readiness(status="ready", checks=states, spooled=waiting)

    return router


def _state(check: Check) -> str:
    """Run ``check`` on a thread of its own for at most :data:`CHECK_SECONDS`: one that
    hangs is left behind (daemon) rather than blocking the probes that follow it."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            check.run()
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, name=f"readyz-{check.name}", daemon=True)
    worker.start()
    worker.join(CHECK_SECONDS)
    if worker.is_alive():
        _log.warning("readiness check %s: no answer in %.1f s", check.name, CHECK_SECONDS)
        return "failing"
    if failure:
        _log.warning("readiness check %s failed", check.name, exc_info=failure[0])
        return "failing"
    return "ok"


def _count(name: str, count: Callable[[], int]) -> int:
    try:
        return count()
    except Exception:  # a spool that cannot be read is the applier's to report
        _log.warning("could not count the spool %s", name, exc_info=True)
        return -1
