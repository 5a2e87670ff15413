"""The one scheduler loop: people jobs, campaign jobs and scheduled workflows.

Each system says what is due from its own recorded history (people job runs,
campaign job runs, workflow schedules); this loop asks every source once a
tick and runs what is due one at a time, off the event loop, so a long ingest
never starves the HTTP routes. A failure is logged and recorded by the job
itself; it never stops the loop. ``audiencehub serve`` runs one loop for both
systems; ``people serve`` runs one for the people service alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sharing.jobs import due_campaign_jobs, run_campaign_job
from audiencehub.campaign.workflows.schedule import due_workflows, run_scheduled
from audiencehub.config import Settings
from audiencehub.people.jobs import PeopleJob, due_jobs, run_job
from audiencehub.people.pgp_keys import PgpKeys

__all__ = ["Due", "DueWork", "campaign_work", "people_jobs", "people_work", "run_scheduler"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    """One piece of work that is due now, named for the log."""

    name: str
    run: Callable[[], object]


DueWork = Callable[[datetime], list[Due]]
"""A source of work: given the time, what is due."""


def people_jobs(engine: Engine, settings: Settings) -> Callable[[PeopleJob], dict[str, Any]]:
    """Run a people job now, with the workspace's drop, endpoint and PGP keys (for the
    scheduler, and for the pages' and the API's *run now*)."""

    def run(job: PeopleJob) -> dict[str, Any]:
        return run_job(
            engine,
            job,
            inbound_drop=settings.people_inbound_drop,
            endpoint_url=settings.s3_endpoint_url,
            keys=PgpKeys.of(settings.workspace),
            history_days=settings.lake_history_days,
        )

    return run


def people_work(engine: Engine, settings: Settings) -> DueWork:
    """The people service's due jobs: ingest from its inbound drop, publication, retention."""
    run = people_jobs(engine, settings)

    def due(now: datetime) -> list[Due]:
        return [Due(f"people {job}", partial(run, job)) for job in due_jobs(engine, now)]

    return due


def campaign_work(services: CampaignServices) -> DueWork:
    """Campaign's due jobs (importSharedAudience, exportSharedAudience) and workflows."""
    engine = services.engine

    def due(now: datetime) -> list[Due]:
        jobs = [
            Due(
                f"campaign {job}",
                partial(run_campaign_job, engine, services.vault, services.path, job),
            )
            for job in due_campaign_jobs(engine, now)
        ]
        workflows = [
            Due(
                f"workflow {name}",
                partial(
                    run_scheduled,
                    engine,
                    name,
                    now,
                    messaging=services.messaging,
                    client=services.people_clients(),
                ),
            )
            for name in due_workflows(engine, now)
        ]
        return jobs + workflows

    return due


async def run_scheduler(sources: Sequence[DueWork], *, tick: float = 30.0) -> None:
    """Run what every source says is due, one at a time, forever; failures are logged."""
    while True:
        for source in sources:
            try:
                due = await asyncio.to_thread(source, datetime.now(UTC))
            except Exception:
                logger.exception("the scheduler could not read what is due")
                continue
            for work in due:
                try:
                    await asyncio.to_thread(work.run)
                    logger.info("%s succeeded", work.name)
                except Exception:
                    logger.exception("%s failed", work.name)
        await asyncio.sleep(tick)
