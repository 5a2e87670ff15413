"""Workflows: schedules and runs, and the editor that validates the YAML as it is typed,
draws the activity graph, runs the workflow and shows each activity's counts."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.ui.access import PageAccess
from audiencehub.campaign.workflows.document import Workflow, problem_lines, read_workflow
from audiencehub.campaign.workflows.runner import run_workflow
from audiencehub.campaign.workflows.runs import (
    get_workflow_run,
    unschedule_workflow,
    workflow_run_page,
)
from audiencehub.campaign.workflows.schedule import (
    list_schedules,
    schedule_workflow,
    scheduled_document,
)
from audiencehub.errors import AudienceHubError
from audiencehub.webui import graph_svg

__all__ = ["workflow_pages"]

EXAMPLE = """name: French openers
activities:
  - id: french
    type: query
    filter: "country = 'FR' and not email_opt_out"
  - id: save
    type: save_audience
    input: french
    mode: create_or_update
    audience: French profiles
"""
_MAX = 100_000


def _check(text: str) -> dict[str, object]:
    """What the editor shows: every problem at its line, and the graph when it parses."""
    try:
        workflow = read_workflow(text, "the workflow")
    except AudienceHubError as exc:
        return {"problems": [(None, exc.message)], "svg": "", "name": ""}
    return {
        "problems": problem_lines(text, workflow.problems),
        "svg": _svg(workflow),
        "name": workflow.name,
    }


def _svg(workflow: Workflow) -> str:
    producers = {output: a.id for a in workflow.activities for output in a.outputs}
    edges = [
        (producers.get(source, source.split(".")[0]), activity.id)
        for activity in workflow.activities
        for source in activity.inputs
    ]
    nodes = [(a.id, a.type) for a in workflow.activities]
    return graph_svg(nodes, edges, f"Activities of {workflow.name}")


def workflow_pages(access: PageAccess) -> APIRouter:
    """``/workflows``, the editor and the runs."""
    router = APIRouter(include_in_schema=False)
    services, pages, tasks = access.services, access.pages, access.tasks
    engine = services.engine
    viewer, marketer = access.needs(Role.VIEWER), access.needs(Role.MARKETER)

    @router.get("/workflows")
    def workflows(request: Request, _: Annotated[User, Depends(viewer)]) -> Response:
        with engine.connect() as connection:
            runs = workflow_run_page(connection, None, 20)
        return pages.render(
            request, "workflows.html", {"schedules": list_schedules(engine), "runs": runs}
        )

    @router.get("/workflows/editor")
    def editor(
        request: Request,
        _: Annotated[User, Depends(viewer)],
        name: Annotated[str, Query(max_length=255)] = "",
    ) -> Response:
        stored = scheduled_document(engine, name) if name else None
        text = yaml.safe_dump(stored, sort_keys=False, allow_unicode=True) if stored else EXAMPLE
        return pages.render(request, "editor.html", {"text": text, **_check(text)})

    @router.post("/workflows/check")
    def check(
        request: Request,
        _: Annotated[User, Depends(viewer)],
        document: Annotated[str, Form(max_length=_MAX)] = "",
    ) -> Response:
        return pages.render(request, "check.html", _check(document))

    @router.post("/workflows/run")
    def run(
        request: Request,
        user: Annotated[User, Depends(marketer)],
        document: Annotated[str, Form(max_length=_MAX)] = "",
    ) -> Response:
        try:
            workflow = read_workflow(document, "the workflow")
            if workflow.problems:
                return pages.render(request, "check.html", _check(document))
        except AudienceHubError:
            return pages.render(request, "check.html", _check(document))
        task = tasks.start(
            f"Run of {workflow.name}",
            user["name"],
            lambda: run_workflow(
                engine, workflow, client=services.people_clients(), messaging=services.messaging
            ),
            link=lambda result: f"/workflows/runs/{result.run_id}",
        )
        return pages.render(request, "task.html", {"task": task})

    @router.post("/workflows/schedule")
    def schedule(
        request: Request,
        _: Annotated[User, Depends(marketer)],
        document: Annotated[str, Form(max_length=_MAX)] = "",
    ) -> Response:
        try:
            next_run = schedule_workflow(engine, read_workflow(document, "the workflow"))
        except AudienceHubError as exc:
            outcome = {**_check(document), "error": exc.message, "hint": exc.hint}
            return pages.render(request, "check.html", outcome)
        return pages.render(request, "check.html", {**_check(document), "scheduled": next_run})

    @router.post("/workflows/{name}/unschedule")
    def unschedule(name: str, _: Annotated[User, Depends(marketer)]) -> Response:
        with engine.begin() as connection:
            unschedule_workflow(connection, name)
        return RedirectResponse("/workflows", status_code=303)

    @router.get("/workflows/runs/{run_id}")
    def run_page(request: Request, run_id: int, _: Annotated[User, Depends(viewer)]) -> Response:
        with engine.connect() as connection:
            found = get_workflow_run(connection, run_id)
        return pages.render(request, "run.html", {"run": found})

    return router
