"""Campaign's web pages: server-rendered, enhanced with htmx, over the same core as the API.

``campaign_pages`` returns the pages' router and what the app installs beside
it (the sign-in redirect, error pages for people).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.web.ui.access import PageAccess
from audiencehub.campaign.web.ui.audience_pages import audience_pages
from audiencehub.campaign.web.ui.delivery_pages import delivery_pages
from audiencehub.campaign.web.ui.home_pages import home_pages
from audiencehub.campaign.web.ui.profile_pages import profile_pages
from audiencehub.campaign.web.ui.sharing_pages import sharing_pages
from audiencehub.campaign.web.ui.workflow_pages import workflow_pages
from audiencehub.sign_ins import SignInGate
from audiencehub.webui import Pages, Tasks
from audiencehub.webui.guard import SignInNeeded, sign_in_redirect

__all__ = ["NAV", "install_pages"]

NAV = [
    ("/", "Home"),
    ("/audiences", "Audiences"),
    ("/profiles", "Profiles"),
    ("/datasources", "Data sources"),
    ("/accounts", "Accounts"),
    ("/workflows", "Workflows"),
    ("/deliveries", "Deliveries"),
    ("/jobs", "Jobs"),
    ("/audit", "Audit"),
    ("/api/docs", "API"),
]


def install_pages(app: FastAPI, services: CampaignServices, gate: SignInGate) -> Pages:
    """Add the pages to ``app``; returns their renderer (for error pages)."""
    pages = Pages(Path(__file__).parent.parent / "templates", "audiencehub campaign", NAV)
    access = PageAccess(services, pages, gate, Tasks())
    router = APIRouter(include_in_schema=False)
    for part in (
        access.router(),
        home_pages(access),
        audience_pages(access),
        profile_pages(access),
        sharing_pages(access),
        workflow_pages(access),
        delivery_pages(access),
    ):
        router.include_router(part)
    app.include_router(router)
    app.add_exception_handler(SignInNeeded, sign_in_redirect)
    app.state.tasks = access.tasks
    return pages
