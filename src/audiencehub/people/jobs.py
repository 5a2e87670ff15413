"""The people service's technical jobs: ingest, publication, retention and compaction.

Ingest runs twice a day, publication, retention and the lake's compaction daily;
each can also be run on demand. Every run is recorded (start, end, status, summary), and the
scheduler (:mod:`audiencehub.runtime.scheduler`) decides what is due from that
history, so a restart neither skips nor repeats a run.
"""

from __future__ import annotations

import enum
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from audiencehub.db.job_runs import JobRun, due, recent_runs, run_recorded
from audiencehub.drops import open_drop
from audiencehub.people.destinations import destination_ids
from audiencehub.people.graph import apply_retention
from audiencehub.people.ingest import ingest
from audiencehub.people.lake import compact
from audiencehub.people.materialise import materialise
from audiencehub.people.pgp_keys import PgpKeys
from audiencehub.people.publication import publish
from audiencehub.people.schema import job_runs

__all__ = ["PeopleJob", "due_jobs", "job_history", "run_job"]


class PeopleJob(enum.StrEnum):
    """A technical job of the people service."""

    INGEST = "ingest"
    PUBLISH = "publish"
    RETENTION = "retention"
    COMPACTION = "compaction"  # the lake's small files merged, old snapshots expired

    @property
    def interval(self) -> timedelta:
        """How often the scheduler runs it."""
        return timedelta(hours=12) if self is PeopleJob.INGEST else timedelta(hours=24)


def _execute(
    engine: Engine,
    job: PeopleJob,
    inbound_drop: str,
    endpoint_url: str | None,
    keys: PgpKeys | None,
    history_days: int,
) -> dict[str, Any]:
    if job is PeopleJob.INGEST:
        run = ingest(engine, open_drop(inbound_drop, endpoint_url=endpoint_url), keys)
        return {"receipts": [asdict(r) for r in run.receipts], "unrecognised": run.unrecognised}
    if job is PeopleJob.PUBLISH:
        with engine.connect() as connection:
            targets = destination_ids(connection)
        return {
            # the segments' sizes follow the graph's links and opt-outs of the day
            "segments": materialise(engine),
            "publications": [
                vars(publish(engine, target, endpoint_url=endpoint_url)) for target in targets
            ],
        }
    if job is PeopleJob.COMPACTION:
        return vars(compact(engine, history_days))
    with engine.begin() as connection:
        removed = apply_retention(connection)
    return {"removed_customer_ids": removed, "segments": materialise(engine)}


def run_job(
    engine: Engine,
    job: PeopleJob,
    *,
    inbound_drop: str,
    endpoint_url: str | None = None,
    keys: PgpKeys | None = None,
    history_days: int = 30,
) -> dict[str, Any]:
    """Run one job now and record the run; a user error is recorded as a failure and raised.
    ``keys`` decrypt PGP-encrypted inbound files; compaction keeps ``history_days`` of
    the lake's snapshots."""
    return run_recorded(
        engine,
        job_runs,
        job.value,
        lambda: _execute(engine, job, inbound_drop, endpoint_url, keys, history_days),
    )


def due_jobs(engine: Engine, now: datetime | None = None) -> list[PeopleJob]:
    """Jobs whose last run started at least one interval ago (or that never ran)."""
    intervals = {job.value: job.interval for job in PeopleJob}
    return [PeopleJob(name) for name in due(engine, job_runs, intervals, now)]


def job_history(engine: Engine, limit: int = 20, job: PeopleJob | None = None) -> list[JobRun]:
    """The latest recorded runs (of ``job`` only, if given), newest first."""
    return recent_runs(engine, job_runs, limit, job.value if job else None)
