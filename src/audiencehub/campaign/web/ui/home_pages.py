"""The home page (what is happening at a glance), the jobs and the audit trail."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from audiencehub.campaign.audiences import list_audiences
from audiencehub.campaign.messaging.reports import delivery_page
from audiencehub.campaign.sharing.audit import list_audit
from audiencehub.campaign.sharing.jobs import CampaignJob, job_history, run_campaign_job
from audiencehub.campaign.sharing.people_link import get_people_link
from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.ui.access import PageAccess
from audiencehub.db.audit_trail import change_summary
from audiencehub.errors import NotFound

__all__ = ["home_pages"]


def home_pages(access: PageAccess) -> APIRouter:
    """``/``, ``/jobs`` and ``/audit``."""
    router = APIRouter(include_in_schema=False)
    services, pages, tasks = access.services, access.pages, access.tasks
    engine = services.engine
    viewer, marketer = access.needs(Role.VIEWER), access.needs(Role.MARKETER)

    def connection_state() -> dict[str, object]:
        with engine.connect() as connection:
            try:
                return {"link": get_people_link(connection)}
            except NotFound as exc:
                return {"link": None, "hint": exc.hint}

    @router.get("/")
    def home(request: Request, _: Annotated[User, Depends(viewer)]) -> Response:
        week = datetime.now(UTC) - timedelta(days=7)
        with engine.connect() as connection:
            audiences = sorted(
                list_audiences(connection), key=lambda a: a["updated_at"], reverse=True
            )
            deliveries = delivery_page(connection, None, 20, since=week)
        return pages.render(
            request,
            "home.html",
            {
                "audiences": audiences[:8],
                "audience_count": len(audiences),
                "jobs": job_history(engine, 6),
                "deliveries": deliveries,
                "connection": connection_state(),
                "tasks": tasks.recent(5),
            },
        )

    @router.get("/jobs")
    def jobs(request: Request, _: Annotated[User, Depends(viewer)]) -> Response:
        history = job_history(engine, 30)
        waiting = next((run.summary for run in history if run.job == CampaignJob.IMPORT.value), {})
        return pages.render(
            request,
            "jobs.html",
            {"history": history, "jobs": list(CampaignJob), "last_import": waiting},
        )

    @router.post("/jobs/{job}/run")
    async def run_job(
        job: CampaignJob, request: Request, user: Annotated[User, Depends(marketer)]
    ) -> Response:
        task = tasks.start(
            f"{job.value}",
            user["name"],
            lambda: run_campaign_job(engine, services.vault, services.path, job),
            link="/jobs",
        )
        return pages.render(request, "task.html", {"task": task})

    @router.get("/audit")
    def audit(
        request: Request, user: Annotated[User, Depends(viewer)], before: int | None = None
    ) -> Response:
        sign_ins = Role(user["role"]).allows(Role.ADMIN)  # their addresses are for admins
        with engine.connect() as connection:
            entries = list_audit(connection, 50, before, sign_ins=sign_ins)
        rows = [{**entry, "facts": change_summary(entry["details"])} for entry in entries]
        return pages.render(request, "audit.html", {"entries": rows, "signed_in_admin": sign_ins})

    return router
