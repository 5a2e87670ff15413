"""Scheduled workflows: a workflow with a Scheduler activity runs at its cron times.

``workflows schedule FILE`` registers it; the server's scheduler
(:mod:`audiencehub.runtime.scheduler`) runs what is due, catching up once, not
once per missed tick, after downtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from croniter import croniter
from sqlalchemy import Engine, select, update
from typing_extensions import TypedDict

from audiencehub.campaign.messaging.sending import Messaging
from audiencehub.campaign.schema import workflow_schedules
from audiencehub.campaign.sharing.people_link import PeopleClient
from audiencehub.campaign.workflows.document import Workflow, parse_workflow
from audiencehub.campaign.workflows.runner import WorkflowRun, run_workflow
from audiencehub.db.bulk import upsert
from audiencehub.db.types import stored_utc
from audiencehub.errors import AudienceHubError, InvalidInput

__all__ = [
    "ScheduleEntry",
    "due_workflows",
    "list_schedules",
    "run_due_workflows",
    "run_scheduled",
    "schedule_workflow",
    "scheduled_document",
]

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


class ScheduleEntry(TypedDict):
    """A scheduled workflow: its cron, next run and the last run it made."""

    name: str
    cron: str
    next_run_at: datetime
    last_run_id: int | None


def list_schedules(engine: Engine) -> list[ScheduleEntry]:
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
        return [cast(ScheduleEntry, dict(row)) for row in rows.mappings()]


def due_workflows(engine: Engine, now: datetime | None = None) -> list[str]:
    """Names of the scheduled workflows whose next run has come."""
    moment = now or datetime.now(UTC)
    with engine.connect() as connection:
        rows = connection.execute(
            select(workflow_schedules.c.name, workflow_schedules.c.next_run_at).order_by(
                workflow_schedules.c.next_run_at
            )
        )
        return [row.name for row in rows if stored_utc(row.next_run_at) <= moment]


def run_scheduled(
    engine: Engine,
    name: str,
    now: datetime | None = None,
    *,
    messaging: Messaging | None = None,
    client: Callable[[], PeopleClient] | None = None,
) -> WorkflowRun | None:
    """Run one scheduled workflow and move it to its next cron time.

    A failed run waits for its next cron time, not for the next tick; it is
    logged and None is returned.
    """
    moment = now or datetime.now(UTC)
    with engine.connect() as connection:
        schedule = (
            connection.execute(select(workflow_schedules).where(workflow_schedules.c.name == name))
            .mappings()
            .one()
        )
    run: WorkflowRun | None = None
    try:
        run = run_workflow(
            engine,
            parse_workflow(schedule["document"]),
            messaging=messaging,
            client=client,
            now=moment,
        )
    except AudienceHubError as exc:
        logger.warning("scheduled workflow %s failed: %s", name, exc.message)
    with engine.begin() as connection:
        connection.execute(
            update(workflow_schedules)
            .where(workflow_schedules.c.name == name)
            .values(
                next_run_at=_next(schedule["cron"], moment),
                last_run_id=run.run_id if run else schedule["last_run_id"],
            )
        )
    return run


def run_due_workflows(
    engine: Engine,
    now: datetime | None = None,
    *,
    messaging: Messaging | None = None,
    client: Callable[[], PeopleClient] | None = None,
) -> list[WorkflowRun]:
    """Run every workflow whose next run has come (what one tick of the scheduler does)."""
    moment = now or datetime.now(UTC)
    runs = [
        run_scheduled(engine, name, moment, messaging=messaging, client=client)
        for name in due_workflows(engine, moment)
    ]
    return [run for run in runs if run is not None]


def scheduled_document(engine: Engine, name: str) -> dict[str, Any] | None:
    """The document of the workflow scheduled as ``name`` (None if there is none)."""
    with engine.connect() as connection:
        document = connection.execute(
            select(workflow_schedules.c.document).where(workflow_schedules.c.name == name)
        ).scalar()
    return dict(document) if document else None
