"""Scheduled workflows: a workflow with a Scheduler activity runs at its cron times.

``workflows schedule FILE`` registers it; the campaign server's scheduler runs
what is due (catching up once, not once per missed tick, after downtime).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from sqlalchemy import Engine, select, update

from audiencehub.campaign.schema import workflow_schedules
from audiencehub.campaign.sharing.people_link import PeopleClient
from audiencehub.campaign.workflows.document import Workflow, parse_workflow
from audiencehub.campaign.workflows.runner import Messaging, WorkflowRun, run_workflow
from audiencehub.db.bulk import upsert
from audiencehub.errors import AudienceHubError, InvalidInput

__all__ = ["list_schedules", "run_due_workflows", "run_workflow_scheduler", "schedule_workflow"]

logger = logging.getLogger(__name__)


def _next(cron: str, after: datetime) -> datetime:
    moment: datetime = croniter(cron, after).get_next(datetime)
    return moment


def schedule_workflow(engine: Engine, workflow: Workflow, now: datetime | None = None) -> datetime:
    """Register (or update) a workflow that has a Scheduler activity; returns its next run."""
    if workflow.problems:
        raise InvalidInput(
            "the workflow has problems:\n" + "\n".join(f"- {p}" for p in workflow.problems)
        )
    if workflow.cron is None:
        raise InvalidInput(
            "the workflow has no scheduler activity",
            hint="Add {id: start, type: scheduler, cron: '0 6 * * *'} to schedule it.",
        )
    following = _next(workflow.cron, now or datetime.now(UTC))
    with engine.begin() as connection:
        upsert(
            connection,
            workflow_schedules,
            [
                {
                    "name": workflow.name,
                    "document": dict(workflow.document),
                    "cron": workflow.cron,
                    "next_run_at": following,
                    "last_run_id": None,
                }
            ],
            keys=("name",),
            update=("document", "cron", "next_run_at"),
        )
    return following


def list_schedules(engine: Engine) -> list[dict[str, Any]]:
    """Scheduled workflows with their cron and next run."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                workflow_schedules.c.name,
                workflow_schedules.c.cron,
                workflow_schedules.c.next_run_at,
                workflow_schedules.c.last_run_id,
            ).order_by(workflow_schedules.c.next_run_at)
        )
        return [dict(row) for row in rows.mappings()]


def run_due_workflows(
    engine: Engine,
    now: datetime | None = None,
    *,
    messaging: Messaging | None = None,
    client: Callable[[], PeopleClient] | None = None,
) -> list[WorkflowRun]:
    """Run every workflow whose next run has come, and move it to its next cron time."""
    moment = now or datetime.now(UTC)
    with engine.connect() as connection:
        due = [dict(r) for r in connection.execute(select(workflow_schedules)).mappings()]
    runs = []
    for schedule in due:
        next_at = schedule["next_run_at"]
        if next_at.tzinfo is None:
            next_at = next_at.replace(tzinfo=UTC)
        if next_at > moment:
            continue
        run: WorkflowRun | None = None
        try:
            run = run_workflow(
                engine,
                parse_workflow(schedule["document"]),
                messaging=messaging,
                client=client,
                now=moment,
            )
            runs.append(run)
        except AudienceHubError as exc:
            # a failed run waits for its next cron time, not for the next tick
            logger.warning("scheduled workflow %s failed: %s", schedule["name"], exc.message)
        with engine.begin() as connection:
            connection.execute(
                update(workflow_schedules)
                .where(workflow_schedules.c.name == schedule["name"])
                .values(
                    next_run_at=_next(schedule["cron"], moment),
                    last_run_id=run.run_id if run else schedule["last_run_id"],
                )
            )
    return runs


async def run_workflow_scheduler(
    engine: Engine, *, messaging: Messaging | None = None, tick: float = 30.0
) -> None:
    """Run due workflows forever, off the event loop; a failing workflow is logged."""
    while True:
        try:
            await asyncio.to_thread(run_due_workflows, engine, messaging=messaging)
        except Exception:
            logger.exception("a scheduled workflow failed")
        await asyncio.sleep(tick)
