"""Workflows over ``/api/v1``: validate a document, run it, read its runs, schedule it.

A workflow travels as its YAML (or JSON) text, the same document the CLI reads
from a file; validation answers every problem at once, so an editor can show
them all while the user types.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.access import Access
from audiencehub.campaign.workflows.document import Workflow, read_workflow
from audiencehub.campaign.workflows.runner import run_workflow
from audiencehub.campaign.workflows.runs import (
    RecordedRun,
    get_workflow_run,
    unschedule_workflow,
    workflow_run_page,
)
from audiencehub.campaign.workflows.schedule import (
    ScheduleEntry,
    list_schedules,
    schedule_workflow,
)
from audiencehub.errors import InvalidInput
from audiencehub.restapi import Cursor, Limit, Page, page_of, page_rows

__all__ = ["workflows_router"]

_EXAMPLE = """name: French openers
activities:
  - {id: query, type: query, filter: "country = 'FR'"}
  - {id: save, type: save_audience, input: query, audience: French profiles}
"""
_DOCUMENT = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}, "example": _EXAMPLE},
            "text/plain": {"schema": {"type": "string"}, "example": _EXAMPLE},
        },
    }
}


class Validation(BaseModel):
    """A document's activities in run order, and every problem found (none: it can run)."""

    name: str
    activities: list[dict[str, Any]]
    problems: list[str]


class RunResult(BaseModel):
    """A finished run: its id, and per activity the counts it read and wrote."""

    run_id: int
    name: str
    activities: dict[str, dict[str, dict[str, int]]]


class Scheduled(BaseModel):
    """A scheduled workflow's next run."""

    name: str
    next_run_at: datetime


async def _document(request: Request) -> Workflow:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the workflow is not UTF-8 text") from None
    return read_workflow(text, "the request body")


def workflows_router(services: CampaignServices, access: Access) -> APIRouter:
    """Workflow routes."""
    router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])
    viewer, marketer = access.needs(Role.VIEWER), access.needs(Role.MARKETER)
    engine = services.engine

    @router.post("/validate", openapi_extra=_DOCUMENT)
    async def validate_workflow(
        request: Request, _: Annotated[User, Depends(viewer)]
    ) -> Validation:
        """Every problem of a workflow document at once."""
        workflow = await _document(request)
        return Validation(
            name=workflow.name,
            activities=[
                {"id": a.id, "type": a.type, "inputs": list(a.inputs), "outputs": list(a.outputs)}
                for a in workflow.activities
            ],
            problems=list(workflow.problems),
        )

    @router.post("/runs", openapi_extra=_DOCUMENT, status_code=201)
    async def run(request: Request, _: Annotated[User, Depends(marketer)]) -> RunResult:
        """Run a workflow document now, in one transaction; refused whole if it has problems."""
        workflow = await _document(request)
        result = await run_in_threadpool(
            run_workflow,
            engine,
            workflow,
            client=services.people_clients(),
            messaging=services.messaging,
        )
        return RunResult(run_id=result.run_id, name=result.name, activities=result.activities)

    @router.get("/runs")
    def runs(
        _: Annotated[User, Depends(viewer)],
        name: str | None = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[RecordedRun]:
        """Runs newest first, with each activity's counts (of one workflow, if named)."""
        with engine.connect() as connection:
            return page_rows(
                lambda before, n: workflow_run_page(connection, before, n, name),
                lambda r: r["id"],
                cursor,
                limit,
            )

    @router.get("/runs/{run_id}")
    def show_run(
        run_id: Annotated[int, Path(ge=1, le=2**62, examples=[12])],
        _: Annotated[User, Depends(viewer)],
    ) -> RecordedRun:
        """One run."""
        with engine.connect() as connection:
            return get_workflow_run(connection, run_id)

    @router.get("/schedules")
    def schedules(
        _: Annotated[User, Depends(viewer)], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[ScheduleEntry]:
        """Scheduled workflows with their cron and next run."""
        return page_of(list_schedules(engine), lambda s: s["name"], cursor, limit)

    @router.post("/schedules", openapi_extra=_DOCUMENT, status_code=201)
    async def schedule(request: Request, _: Annotated[User, Depends(marketer)]) -> Scheduled:
        """Schedule a workflow by its Scheduler activity (replacing one of the same name)."""
        workflow = await _document(request)
        return Scheduled(name=workflow.name, next_run_at=schedule_workflow(engine, workflow))

    @router.delete("/schedules/{name}", status_code=204)
    def unschedule(
        name: Annotated[str, Path(min_length=1, max_length=255, examples=["French openers"])],
        _: Annotated[User, Depends(marketer)],
    ) -> None:
        """Stop running a workflow on its schedule; its runs stay recorded."""
        with engine.begin() as connection:
            unschedule_workflow(connection, name)

    return router
