"""The people service's technical jobs and the scheduler that runs them.

Ingest runs twice a day, publication and retention daily; each can also be run
on demand. Every run is recorded (start, end, status, summary), and the
scheduler decides what is due from that history, so a restart neither skips
nor repeats a run.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select

from audiencehub.drops import open_drop
from audiencehub.errors import AudienceHubError
from audiencehub.people.graph import apply_retention
from audiencehub.people.ingest import ingest
from audiencehub.people.publication import publish
from audiencehub.people.schema import destinations, job_runs

__all__ = ["PeopleJob", "due_jobs", "run_job", "run_scheduler"]

logger = logging.getLogger(__name__)


class PeopleJob(enum.StrEnum):
    """A technical job of the people service."""

    INGEST = "ingest"
    PUBLISH = "publish"
    RETENTION = "retention"

    @property
    def interval(self) -> timedelta:
        """How often the scheduler runs it."""
        return timedelta(hours=12) if self is PeopleJob.INGEST else timedelta(hours=24)


def _execute(
    engine: Engine, job: PeopleJob, inbound_drop: str, endpoint_url: str | None
) -> dict[str, Any]:
    if job is PeopleJob.INGEST:
        run = ingest(engine, open_drop(inbound_drop, endpoint_url=endpoint_url))
        return {"receipts": [asdict(r) for r in run.receipts], "unrecognised": run.unrecognised}
    if job is PeopleJob.PUBLISH:
        with engine.connect() as connection:
            targets = list(connection.execute(select(destinations.c.id)).scalars())
        return {
            "publications": [
                vars(publish(engine, target, endpoint_url=endpoint_url)) for target in targets
            ]
        }
    with engine.begin() as connection:
        return {"removed_customer_ids": apply_retention(connection)}


def run_job(
    engine: Engine, job: PeopleJob, *, inbound_drop: str, endpoint_url: str | None = None
) -> dict[str, Any]:
    """Run one job now and record the run; a user error is recorded as a failure and raised."""
    started = datetime.now(UTC)
    status, summary = "succeeded", {}
    try:
        summary = _execute(engine, job, inbound_drop, endpoint_url)
    except Exception as exc:
        status = "failed"
        summary = (
            {"error": exc.message, "hint": exc.hint}
            if isinstance(exc, AudienceHubError)
            else {"error": f"internal error: {type(exc).__name__}"}
        )
        raise
    finally:
        with engine.begin() as connection:
            connection.execute(
                insert(job_runs),
                {
                    "job": job.value,
                    "started_at": started,
                    "ended_at": datetime.now(UTC),
                    "status": status,
                    "summary": summary,
                },
            )
    return summary


def due_jobs(engine: Engine, now: datetime | None = None) -> list[PeopleJob]:
    """Jobs whose last run started at least one interval ago (or that never ran)."""
    moment = now or datetime.now(UTC)
    with engine.connect() as connection:
        last = dict(
            connection.execute(
                select(job_runs.c.job, func.max(job_runs.c.started_at)).group_by(job_runs.c.job)
            )
            .tuples()
            .all()
        )
    due = []
    for job in PeopleJob:
        previous = last.get(job.value)
        if previous is not None and previous.tzinfo is None:
            previous = previous.replace(tzinfo=UTC)
        if previous is None or moment - previous >= job.interval:
            due.append(job)
    return due


async def run_scheduler(
    engine: Engine, *, inbound_drop: str, endpoint_url: str | None = None, tick: float = 60.0
) -> None:
    """Run due jobs forever, one at a time, off the event loop; failures are logged, not fatal."""
    while True:
        for job in due_jobs(engine):
            try:
                await asyncio.to_thread(
                    run_job, engine, job, inbound_drop=inbound_drop, endpoint_url=endpoint_url
                )
                logger.info("people job %s succeeded", job)
            except Exception:
                logger.exception("people job %s failed", job)
        await asyncio.sleep(tick)
