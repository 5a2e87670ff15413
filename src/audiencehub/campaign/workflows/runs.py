"""Workflow runs as recorded: each activity's inputs and outputs, and the schedules' removal.

The runner records a run as it goes (:mod:`.runner`); this is the read side,
with the one write that undoes a schedule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, delete, select
from typing_extensions import TypedDict

from audiencehub.campaign.schema import workflow_runs, workflow_schedules
from audiencehub.errors import NotFound

__all__ = ["RecordedRun", "get_workflow_run", "unschedule_workflow", "workflow_run_page"]


class RecordedRun(TypedDict):
    """A run: when, its outcome, and per activity the counts it read and wrote."""

    id: int
    name: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    activities: dict[str, Any]


def get_workflow_run(connection: Connection, run_id: int) -> RecordedRun:
    """One run by id."""
    row = (
        connection.execute(select(workflow_runs).where(workflow_runs.c.id == run_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no workflow run {run_id}", hint="List them: GET /api/v1/workflow-runs")
    return cast(RecordedRun, dict(row))


def workflow_run_page(
    connection: Connection, before: int | None, limit: int, name: str | None = None
) -> list[RecordedRun]:
    """Runs newest first (of the workflow ``name`` only, if given)."""
    query = select(workflow_runs).order_by(workflow_runs.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(workflow_runs.c.id < before)
    if name is not None:
        query = query.where(workflow_runs.c.name == name)
    return [cast(RecordedRun, dict(row)) for row in connection.execute(query).mappings()]


def unschedule_workflow(connection: Connection, name: str) -> None:
    """Stop running a workflow on its schedule; its past runs stay recorded."""
    removed = connection.execute(
        delete(workflow_schedules).where(workflow_schedules.c.name == name)
    ).rowcount
    if not removed:
        raise NotFound(
            f"no workflow named {name!r} is scheduled",
            hint="List them with: audiencehub workflows list",
        )
