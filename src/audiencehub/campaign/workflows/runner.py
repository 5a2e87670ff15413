"""Running workflows: each transition is a working set stored in the database.

Activities are INSERT ... SELECT statements over ``workflow_sets``, so a
workflow over millions of profiles never brings them into Python. A run is one
transaction: it is applied whole or not at all, and recorded with each
activity's input and output counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Engine,
    Select,
    exists,
    func,
    insert,
    select,
    update,
)

from audiencehub.campaign.messaging.sending import Messaging, send_email_delivery, send_sms_delivery
from audiencehub.campaign.messaging.templates import EmailTemplate
from audiencehub.campaign.schema import (
    audience_members,
    profiles,
    workflow_runs,
    workflow_sets,
)
from audiencehub.campaign.sharing.people_link import PeopleClient
from audiencehub.campaign.workflows.context import WorkflowContext
from audiencehub.campaign.workflows.document import Activity, Workflow
from audiencehub.campaign.workflows.saving import save_audience
from audiencehub.campaign.workflows.targeting import compile_filter
from audiencehub.errors import InvalidInput

__all__ = ["WorkflowRun", "run_workflow"]


@dataclass
class WorkflowRun:
    """A finished run: its id and, per activity, input and output counts."""

    run_id: int
    name: str
    activities: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)


def run_workflow(
    engine: Engine,
    workflow: Workflow,
    *,
    client: Callable[[], PeopleClient] | None = None,
    now: datetime | None = None,
    messaging: Messaging | None = None,
) -> WorkflowRun:
    """Run a validated workflow in one transaction and record it."""
    if workflow.problems:
        raise InvalidInput(
            "the workflow cannot run:\n" + "\n".join(f"- {p}" for p in workflow.problems),
            hint="Run `audiencehub workflows validate FILE` and fix every problem listed.",
        )
    moment = now or datetime.now(UTC)
    with engine.begin() as connection:
        run_id = int(
            connection.execute(
                insert(workflow_runs).returning(workflow_runs.c.id),
                {
                    "name": workflow.name,
                    "started_at": moment,
                    "status": "running",
                    "activities": {},
                },
            ).scalar_one()
        )
        context = WorkflowContext(connection, run_id, moment, client, messaging)
        result = WorkflowRun(run_id, workflow.name)
        for activity in workflow.activities:
            inputs = {name: context.count(name) for name in activity.inputs}
            outputs = _RUNNERS[activity.type](context, activity)
            result.activities[activity.id] = {"inputs": inputs, "outputs": outputs}
        connection.execute(
            update(workflow_runs)
            .where(workflow_runs.c.id == run_id)
            .values(status="succeeded", ended_at=datetime.now(UTC), activities=result.activities)
        )
    return result


def _query(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    condition = compile_filter(str(activity.settings["filter"]), context.audience)
    return {activity.id: context.store(activity.id, select(profiles.c.id).where(condition))}


def _read_audience(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    query = select(audience_members.c.profile_id).where(
        audience_members.c.audience_id == context.audience(str(activity.settings["audience"])),
        audience_members.c.profile_id.is_not(None),
    )
    return {activity.id: context.store(activity.id, query)}


def _union(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    query = (
        select(workflow_sets.c.profile_id)
        .distinct()
        .where(
            workflow_sets.c.run_id == context.run_id, workflow_sets.c.output.in_(activity.inputs)
        )
    )
    return {activity.id: context.store(activity.id, query)}


def _intersection(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    query = (
        select(workflow_sets.c.profile_id)
        .where(
            workflow_sets.c.run_id == context.run_id, workflow_sets.c.output.in_(activity.inputs)
        )
        .group_by(workflow_sets.c.profile_id)
        .having(func.count(workflow_sets.c.output.distinct()) == len(set(activity.inputs)))
    )
    return {activity.id: context.store(activity.id, query)}


def _exclusion(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    first, rest = activity.inputs[0], activity.inputs[1:]
    other = workflow_sets.alias("other")
    kept = workflow_sets.alias("kept")
    query = select(kept.c.profile_id).where(
        kept.c.run_id == context.run_id,
        kept.c.output == first,
        ~exists(
            select(other.c.profile_id).where(
                other.c.run_id == context.run_id,
                other.c.output.in_(rest),
                other.c.profile_id == kept.c.profile_id,
            )
        ),
    )
    return {activity.id: context.store(activity.id, query)}


def _deduplication(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    """One profile per value of ``by`` (email by default, compared normalised): the oldest."""
    by = str(activity.settings.get("by", "email"))
    column = profiles.c.email_key if by == "email" else profiles.c.get(by)
    if column is None:
        raise InvalidInput(f"activity {activity.id!r}: cannot deduplicate by {by!r}")
    members = context.members(activity.inputs[0]).subquery()
    joined = profiles.join(members, members.c.profile_id == profiles.c.id)
    keyed = (
        select(func.min(profiles.c.id))
        .select_from(joined)
        .where(column.is_not(None))
        .group_by(column)
    )
    unkeyed = select(profiles.c.id).select_from(joined).where(column.is_(None))
    return {activity.id: context.store(activity.id, keyed.union(unkeyed))}


def _segmentation(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    """Segments take, in order, from what earlier segments left; the rest is the remainder."""
    source = activity.inputs[0]
    taken: list[str] = []
    counts: dict[str, int] = {}

    def remaining() -> Select[Any]:
        mine = workflow_sets.alias("mine")
        query = select(mine.c.profile_id).where(
            mine.c.run_id == context.run_id, mine.c.output == source
        )
        if taken:
            done = workflow_sets.alias("done")
            query = query.where(
                ~exists(
                    select(done.c.profile_id).where(
                        done.c.run_id == context.run_id,
                        done.c.output.in_(list(taken)),
                        done.c.profile_id == mine.c.profile_id,
                    )
                )
            )
        return query

    for segment in activity.settings["segments"]:
        output = f"{activity.id}.{segment['name']}"
        candidates = remaining().subquery()
        if "filter" in segment:
            condition = compile_filter(str(segment["filter"]), context.audience)
            query = (
                select(profiles.c.id)
                .join(candidates, candidates.c.profile_id == profiles.c.id)
                .where(condition)
            )
        else:
            available = int(
                context.connection.execute(
                    select(func.count()).select_from(candidates)
                ).scalar_one()
            )
            size = (
                int(segment["count"])
                if "count" in segment
                else available * float(segment["percent"]) // 100
            )
            query = (
                select(candidates.c.profile_id).order_by(candidates.c.profile_id).limit(int(size))
            )
        counts[output] = context.store(output, query)
        taken.append(output)
    if activity.settings.get("remainder"):
        output = f"{activity.id}.remainder"
        counts[output] = context.store(output, remaining())
    return counts


def _messaging(context: WorkflowContext, activity: Activity) -> Messaging:
    if context.messaging is None:
        raise InvalidInput(f"activity {activity.id!r} sends messages; no mail settings were given")
    return context.messaging


def _email_delivery(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    """Send an email to the input set; each message is logged in the run's transaction."""
    messaging = _messaging(context, activity)
    template = EmailTemplate(
        str(activity.settings["subject"]),
        str(activity.settings["text"]),
        str(activity.settings["html"]),
    )
    mailer = messaging.mailer()
    try:
        report = send_email_delivery(
            context.connection,
            messaging.settings,
            messaging.signer,
            mailer,
            name=str(activity.settings.get("name", activity.id)),
            template=template,
            profile_ids=context.members(activity.inputs[0]),
        )
    finally:
        mailer.close()
    return {"sent": report.sent, "failed": report.failed, "skipped": report.skipped}


def _sms_delivery(context: WorkflowContext, activity: Activity) -> dict[str, int]:
    """Send an SMS (a text template) to the input set's mobile phones."""
    messaging = _messaging(context, activity)
    report = send_sms_delivery(
        context.connection,
        messaging.settings,
        name=str(activity.settings.get("name", activity.id)),
        text=str(activity.settings["text"]),
        profile_ids=context.members(activity.inputs[0]),
    )
    return {"sent": report.sent, "failed": report.failed, "skipped": report.skipped}


_RUNNERS: dict[str, Callable[[WorkflowContext, Activity], dict[str, int]]] = {
    "query": _query,
    "read_audience": _read_audience,
    "union": _union,
    "intersection": _intersection,
    "exclusion": _exclusion,
    "deduplication": _deduplication,
    "segmentation": _segmentation,
    "save_audience": save_audience,
    "scheduler": lambda _context, _activity: {},  # the start: the schedule decides when
    "email_delivery": _email_delivery,
    "sms_delivery": _sms_delivery,
}
