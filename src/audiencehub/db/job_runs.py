"""Recorded job runs: the history both systems' schedulers decide from.

A run is recorded whether it succeeds or fails (start, end, status, summary),
so a restart neither skips nor repeats a job, and an operator can see what ran.
Each system owns its table (``people_job_runs``, ``campaign_job_runs``) built
by :func:`job_runs_table`; the logic that writes and reads it lives here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Engine, MetaData, String, Table, func, insert, select

from audiencehub.db.types import ID, UTCDateTime, stored_utc
from audiencehub.errors import AudienceHubError, RemoteError

__all__ = [
    "JobRun",
    "due",
    "failure_summary",
    "job_runs_table",
    "last_starts",
    "last_successes",
    "latest_runs",
    "recent_runs",
    "run_recorded",
]


def job_runs_table(name: str, metadata: MetaData) -> Table:
    """The job-run table of one system, under ``name``."""
    return Table(
        name,
        metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("job", String(32), nullable=False, index=True),
        Column("started_at", UTCDateTime, nullable=False),
        Column("ended_at", UTCDateTime, nullable=False),
        Column("status", String(16), nullable=False),
        Column("summary", JSON, nullable=False),
    )


@dataclass(frozen=True)
class JobRun:
    """One recorded run of a job."""

    job: str
    started_at: datetime
    ended_at: datetime
    status: str
    summary: dict[str, Any]


def failure_summary(exc: BaseException) -> dict[str, Any]:
    """What a failed run records: the user's message and hint, or only the error's type.

    A remote failure says that the next run retries it; an internal error never
    records its message, which may carry data.
    """
    if isinstance(exc, AudienceHubError):
        summary: dict[str, Any] = {"error": exc.message, "hint": exc.hint}
        if isinstance(exc, RemoteError):
            summary["retry"] = "at the next run"
        return summary
    return {"error": f"internal error: {type(exc).__name__}"}


def run_recorded(
    engine: Engine, table: Table, job: str, work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run ``work`` now and record the run; a failure is recorded, then raised."""
    started = datetime.now(UTC)
    status, summary = "succeeded", {}
    try:
        summary = work()
    except Exception as exc:
        status, summary = "failed", failure_summary(exc)
        raise
    finally:
        with engine.begin() as connection:
            connection.execute(
                insert(table),
                {
                    "job": job,
                    "started_at": started,
                    "ended_at": datetime.now(UTC),
                    "status": status,
                    "summary": summary,
                },
            )
    return summary


def last_starts(engine: Engine, table: Table) -> dict[str, datetime]:
    """When each job's latest run started."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.job, func.max(table.c.started_at)).group_by(table.c.job)
        ).tuples()
        return {job: stored_utc(started) for job, started in rows}


def last_successes(engine: Engine, table: Table) -> dict[str, datetime]:
    """When each job's latest successful run ended."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.job, func.max(table.c.ended_at))
            .where(table.c.status == "succeeded")
            .group_by(table.c.job)
        ).tuples()
        return {job: stored_utc(ended) for job, ended in rows}


def latest_runs(engine: Engine, table: Table) -> dict[str, JobRun]:
    """Each job's latest run (one query, whatever the history's length)."""
    place = (
        func.row_number()
        .over(partition_by=table.c.job, order_by=(table.c.started_at.desc(), table.c.id.desc()))
        .label("place")
    )
    ranked = select(table, place).subquery()
    with engine.connect() as connection:
        rows: Iterable[Any] = connection.execute(select(ranked).where(ranked.c.place == 1))
        return {row.job: _run_of(row) for row in rows}


def due(
    engine: Engine, table: Table, intervals: Mapping[str, timedelta], now: datetime | None = None
) -> list[str]:
    """Jobs whose last run started at least one interval ago, or that never ran."""
    moment = now or datetime.now(UTC)
    last = last_starts(engine, table)
    return [
        job
        for job, interval in intervals.items()
        if job not in last or moment - last[job] >= interval
    ]


def recent_runs(
    engine: Engine, table: Table, limit: int = 20, job: str | None = None
) -> list[JobRun]:
    """The latest runs (of ``job`` only, if given), newest first."""
    query = select(table).order_by(table.c.started_at.desc(), table.c.id.desc()).limit(limit)
    if job is not None:
        query = query.where(table.c.job == job)
    with engine.connect() as connection:
        rows: Iterable[Any] = connection.execute(query)
        return [_run_of(row) for row in rows]


def _run_of(row: Any) -> JobRun:
    return JobRun(
        row.job, stored_utc(row.started_at), stored_utc(row.ended_at), row.status, dict(row.summary)
    )
