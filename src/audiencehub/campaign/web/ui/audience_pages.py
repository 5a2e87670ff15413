"""Audiences: the list, the *Import shared audience* dialog with its picker, and the
audience page (size and match rate over time, the last import report, members,
a CSV export with chosen fields)."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
import json
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from audiencehub.campaign.audiences import (
    MEMBER_FIELDS,
    get_audience,
    list_audiences,
    member_page,
)
from audiencehub.campaign.sharing.audit import import_history
from audiencehub.campaign.sharing.data_sources import list_shared_data_sources
from audiencehub.campaign.sharing.jobs import CampaignJob, run_campaign_job
from audiencehub.campaign.sharing.shared_audiences import create_shared_audience
from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.ui.access import PageAccess
from audiencehub.errors import AudienceHubError, InvalidInput

__all__ = ["audience_pages"]

_PAGE = 50
_SHOWN = ["email", "first_name", "last_name"]


def audience_pages(access: PageAccess) -> APIRouter:
    """``/audiences`` and each audience's page."""
    router = APIRouter(include_in_schema=False)
    services, pages, tasks = access.services, access.pages, access.tasks
    engine = services.engine
    viewer, marketer = access.needs(Role.VIEWER), access.needs(Role.MARKETER)

    @router.get("/audiences")
    def audiences(request: Request, _: Annotated[User, Depends(viewer)]) -> Response:
        with engine.connect() as connection:
            rows = list_audiences(connection)
            sources = [s for s in list_shared_data_sources(connection) if s["terms_accepted_at"]]
        return pages.render(request, "audiences.html", {"audiences": rows, "sources": sources})

    @router.get("/audiences/picker")
    def picker(request: Request, _: Annotated[User, Depends(marketer)]) -> Response:
        """The people service's segments, through the connection (an htmx fragment)."""
        try:
            with engine.connect() as connection:
                client = services.people_client(connection)
            segments = client.shared_audiences()
        except AudienceHubError as exc:
            return pages.render(request, "picker.html", {"error": exc.message, "hint": exc.hint})
        return pages.render(request, "picker.html", {"segments": segments, "error": ""})

    @router.post("/audiences/import")
    def import_shared(
        request: Request,
        user: Annotated[User, Depends(marketer)],
        name: Annotated[str, Form(max_length=255)] = "",
        segment_id: Annotated[int | None, Form(gt=0, le=2_147_483_647)] = None,
        data_source_id: Annotated[str, Form(max_length=32)] = "",
        force_profile: Annotated[bool, Form()] = False,
    ) -> Response:
        """Create the audience, then run importSharedAudience as a task the page follows."""
        try:
            if segment_id is None or not name.strip():
                raise InvalidInput("choose a segment and give the audience a name")
            with engine.begin() as connection:
                create_shared_audience(
                    connection,
                    name=name.strip(),
                    segment_id=segment_id,
                    data_source_id=data_source_id,
                    force_profile=force_profile,
                )
        except AudienceHubError as exc:
            return pages.render(
                request, "import_result.html", {"error": exc.message, "hint": exc.hint}
            )
        task = tasks.start(
            f"Import of {name.strip()}",
            user["name"],
            lambda: run_campaign_job(engine, services.vault, services.path, CampaignJob.IMPORT),
            link=f"/audiences/{quote(name.strip())}",
        )
        return pages.render(request, "import_result.html", {"task": task, "error": ""})

    @router.get("/audiences/{name}")
    def audience(request: Request, name: str, _: Annotated[User, Depends(viewer)]) -> Response:
        with engine.connect() as connection:
            found = get_audience(connection, name)
            history = import_history(connection, name)
            members = member_page(
                connection, name, ["email", "first_name", "last_name"], None, _PAGE
            )
        series = {
            "x": [int(entry["at"].timestamp()) for entry in history],
            "series": [
                {
                    "label": "Size",
                    # reports before the size was recorded: the IDs matched then
                    "values": [
                        e["details"].get("size", e["details"].get("matched", 0)) for e in history
                    ],
                },
                {
                    "label": "Match rate",
                    "scale": "rate",
                    "values": [e["details"].get("match_rate", 0) for e in history],
                },
            ],
        }
        return pages.render(
            request,
            "audience.html",
            {
                "audience": found,
                "history": history,
                "series": json.dumps(series),
                "members": members,
                "more": len(members) == _PAGE,
                "fields": MEMBER_FIELDS,
            },
        )

    @router.get("/audiences/{name}/members")
    def more_members(
        request: Request,
        name: str,
        _: Annotated[User, Depends(viewer)],
        after: Annotated[str, Query(max_length=320)] = "",
    ) -> Response:
        """The next page of members (an htmx fragment of table rows)."""
        key: int | str | None = int(after) if after.isdigit() else (after or None)
        with engine.connect() as connection:
            members = member_page(connection, name, _SHOWN, key, _PAGE)
        return pages.render(
            request,
            "member_rows.html",
            {"name": name, "members": members, "more": len(members) == _PAGE},
        )

    @router.get("/audiences/{name}/export")
    def export(
        name: str,
        _: Annotated[User, Depends(viewer)],
        field: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        """The CSV download of the API, with the fields ticked."""
        query = urlencode({"fields": ",".join(field or [])})
        return RedirectResponse(
            f"/api/v1/audiences/{quote(name, safe='')}/members.csv?{query}", status_code=303
        )

    return router
