"""Campaign's technical jobs: ``importSharedAudience`` and ``exportSharedAudience``.

Both run every hour in the campaign server (the people service publishes daily,
so an hourly read picks a batch up within the hour) and on demand from the CLI.
Both are idempotent: a batch is applied once, a record is shared once, so the
scheduler simply runs each at start-up and then every interval; a failure is
logged and retried at the next tick.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.sharing.accounts import Account, account_drop
from audiencehub.campaign.sharing.export_job import ExportRun, run_export
from audiencehub.campaign.sharing.import_job import ImportRun, run_import
from audiencehub.campaign.sharing.stored_keys import KEY_CACHE
from audiencehub.errors import InvalidInput

__all__ = ["CampaignJob", "run_campaign_job", "run_campaign_jobs"]

logger = logging.getLogger(__name__)


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


def run_campaign_job(engine: Engine, workspace: Path, job: CampaignJob) -> ImportRun | ExportRun:
    """Run ``job`` now against its external account's drop location."""
    vault = KeyVault(workspace)
    account = Account.IMPORT if job is CampaignJob.IMPORT else Account.EXPORT
    with engine.connect() as connection:
        drop = account_drop(connection, vault, account, workspace)
    if job is CampaignJob.IMPORT:
        return run_import(engine, vault, drop, scratch=workspace, cache=workspace / KEY_CACHE)
    return run_export(engine, vault, drop)


async def run_campaign_jobs(engine: Engine, workspace: Path, *, tick: float = 60.0) -> None:
    """Run each job at start-up and then every interval, off the event loop, forever."""
    loop = asyncio.get_running_loop()
    last: dict[CampaignJob, float] = {}
    while True:
        for job in CampaignJob:
            if job in last and loop.time() - last[job] < job.interval.total_seconds():
                continue
            last[job] = loop.time()
            try:
                await asyncio.to_thread(run_campaign_job, engine, workspace, job)
                logger.info("campaign job %s succeeded", job)
            except Exception:
                logger.exception("campaign job %s failed", job)
        await asyncio.sleep(tick)
