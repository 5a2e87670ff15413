"""Campaign's technical jobs: ``importSharedAudience`` and ``exportSharedAudience``.

Both run every hour in the campaign server (the people service publishes daily,
so an hourly read picks a batch up within the hour) and on demand from the CLI.
Every run is recorded like the people service's, and the scheduler
(:mod:`audiencehub.runtime.scheduler`) decides what is due from that history.
Both are idempotent: a batch is applied once, a record is shared once; a failed
run is recorded and tried again at the next interval.
"""

from __future__ import annotations

import enum
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import job_runs
from audiencehub.campaign.sharing.accounts import Account, account_drop
from audiencehub.campaign.sharing.export_job import ExportRun, run_export
from audiencehub.campaign.sharing.import_job import ImportRun, run_import
from audiencehub.campaign.sharing.stored_keys import KEY_CACHE
from audiencehub.db.job_runs import JobRun, due, recent_runs, run_recorded
from audiencehub.engines.bulk_settings import scratch_of
from audiencehub.errors import InvalidInput

__all__ = ["CampaignJob", "due_campaign_jobs", "job_history", "run_campaign_job"]


class CampaignJob(enum.StrEnum):
    """A technical job of campaign, named as the product names it."""

    IMPORT = "importSharedAudience"
    EXPORT = "exportSharedAudience"

    @classmethod
    def parse(cls, name: str) -> CampaignJob:
        """The job called ``name``; a clear error for any other name."""
        try:
            return cls(name)
        except ValueError:
            raise InvalidInput(
                f"{name!r} is not a campaign job",
                hint="Jobs: importSharedAudience, exportSharedAudience.",
            ) from None

    @property
    def interval(self) -> timedelta:
        """How often the server runs it."""
        return timedelta(hours=1)


def run_campaign_job(
    engine: Engine, vault: KeyVault, workspace: Path, job: CampaignJob
) -> ImportRun | ExportRun:
    """Run ``job`` now against its external account's drop location, and record the run."""
    done: list[ImportRun | ExportRun] = []

    def work() -> dict[str, object]:
        with engine.connect() as connection:
            account = Account.IMPORT if job is CampaignJob.IMPORT else Account.EXPORT
            drop = account_drop(connection, vault, account, workspace)
        run: ImportRun | ExportRun = (
            run_import(
                engine,
                vault,
                drop,
                scratch=scratch_of(engine) or workspace,
                cache=workspace / KEY_CACHE,
            )
            if job is CampaignJob.IMPORT
            else run_export(engine, vault, drop)
        )
        done.append(run)
        return asdict(run)

    run_recorded(engine, job_runs, job.value, work)
    return done[0]


def due_campaign_jobs(engine: Engine, now: datetime | None = None) -> list[CampaignJob]:
    """Jobs whose last run started at least one interval ago (or that never ran)."""
    intervals = {job.value: job.interval for job in CampaignJob}
    return [CampaignJob(name) for name in due(engine, job_runs, intervals, now)]


def job_history(engine: Engine, limit: int = 20) -> list[JobRun]:
    """The latest recorded runs, newest first."""
    return recent_runs(engine, job_runs, limit)
