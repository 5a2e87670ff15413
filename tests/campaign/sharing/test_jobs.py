"""Campaign's technical jobs, on demand and from the server's scheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from audiencehub.campaign.audiences import get_audience
from audiencehub.campaign.key_vault import KeyVault
from audiencehub.campaign.schema import processed_batches
from audiencehub.campaign.sharing.accounts import Account, set_account
from audiencehub.campaign.sharing.data_sources import ReconciliationKey
from audiencehub.campaign.sharing.import_job import ImportRun
from audiencehub.campaign.sharing.jobs import (
    CampaignJob,
    due_campaign_jobs,
    job_history,
    run_campaign_job,
)
from audiencehub.errors import ConfigurationError, InvalidInput
from audiencehub.identity import HashScheme, IdKind, hash_id
from audiencehub.runtime.scheduler import campaign_work, run_scheduler
from tests.campaign.sharing.test_import_job import _audience, _source, campaign, write_batch
from tests.helpers import services_of

__all__ = ["campaign"]  # the fixture, shared with the import tests


def _ready(workspace, tmp_path):
    source = _source(workspace, key=ReconciliationKey.EMAIL, hashing=HashScheme.AAM)
    _audience(workspace, source)
    jo = hash_id("jo@example.com", HashScheme.AAM, IdKind.EMAIL)
    write_batch(tmp_path / "in", [(jo, [900], [])])
    with workspace.campaign.begin() as connection:
        set_account(connection, KeyVault(workspace.path), Account.IMPORT, str(tmp_path / "in"))
        set_account(connection, KeyVault(workspace.path), Account.EXPORT, str(tmp_path / "out"))


def test_jobs_run_on_demand_through_their_accounts(campaign, tmp_path):
    """The import reads its account's folder; a second run finds nothing new."""
    _ready(campaign, tmp_path)
    vault = KeyVault(campaign.path)
    first = run_campaign_job(campaign.campaign, vault, campaign.path, CampaignJob.IMPORT)
    again = run_campaign_job(campaign.campaign, vault, campaign.path, CampaignJob.IMPORT)
    assert isinstance(first, ImportRun)
    assert isinstance(again, ImportRun)
    assert [r["added"] for r in first.reports] == [1]
    assert again.reports == []
    exported = run_campaign_job(campaign.campaign, vault, campaign.path, CampaignJob.EXPORT)
    assert exported.files == []  # nothing shared yet: no file, no error


def test_an_unknown_job_is_named_in_the_error():
    """A typo gets the list of jobs, not a stack trace."""
    with pytest.raises(InvalidInput, match="not a campaign job") as caught:
        CampaignJob.parse("importSharedAudiences")
    assert caught.value.hint == "Jobs: importSharedAudience, exportSharedAudience."


def test_the_scheduler_runs_the_import_at_start_up(campaign, tmp_path):
    """The server's scheduler applies a waiting batch without anyone asking."""
    _ready(campaign, tmp_path)

    async def briefly() -> None:
        sources = [campaign_work(services_of(campaign))]
        task = asyncio.create_task(run_scheduler(sources, tick=0.05))
        for _ in range(200):
            await asyncio.sleep(0.05)
            with campaign.campaign.connect() as connection:
                if connection.execute(select(processed_batches.c.batch)).first():
                    break
        task.cancel()

    asyncio.run(briefly())
    with campaign.campaign.connect() as connection:
        assert get_audience(connection, "Buyers")["size"] == 1


def test_runs_are_recorded_and_decide_what_is_due(campaign, tmp_path):
    """Every run is recorded, failed ones with the reason; a job that just ran is not due."""
    _ready(campaign, tmp_path)
    assert due_campaign_jobs(campaign.campaign) == [CampaignJob.IMPORT, CampaignJob.EXPORT]
    vault = KeyVault(campaign.path)
    run_campaign_job(campaign.campaign, vault, campaign.path, CampaignJob.IMPORT)
    assert due_campaign_jobs(campaign.campaign) == [CampaignJob.EXPORT]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert due_campaign_jobs(campaign.campaign, later) == [CampaignJob.IMPORT, CampaignJob.EXPORT]
    with campaign.campaign.begin() as connection:
        set_account(connection, vault, Account.EXPORT, "s3://")
    with pytest.raises(ConfigurationError):
        run_campaign_job(campaign.campaign, vault, campaign.path, CampaignJob.EXPORT)
    failed, succeeded = job_history(campaign.campaign)
    assert (failed.job, failed.status) == ("exportSharedAudience", "failed")
    assert "names no bucket" in failed.summary["error"]
    assert (succeeded.job, succeeded.status) == ("importSharedAudience", "succeeded")
    assert [r["added"] for r in succeeded.summary["reports"]] == [1]
