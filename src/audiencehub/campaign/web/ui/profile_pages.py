"""Profiles: a search with the targeting language; an error is shown at its position."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from audiencehub.campaign.audiences import audience_id
from audiencehub.campaign.profiles.lookup import count_profiles, get_profile, profile_page
from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.ui.access import PageAccess
from audiencehub.campaign.workflows.targeting import compile_filter
from audiencehub.errors import InvalidInput

__all__ = ["profile_pages"]

_PAGE = 50


def profile_pages(access: PageAccess) -> APIRouter:
    """``/profiles`` and each profile."""
    router = APIRouter(include_in_schema=False)
    engine, pages = access.services.engine, access.pages
    viewer = access.needs(Role.VIEWER)

    @router.get("/profiles")
    def profiles(
        request: Request,
        _: Annotated[User, Depends(viewer)],
        q: Annotated[str, Query(max_length=4096)] = "",
        after: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        error, rows, total = "", [], 0
        with engine.connect() as connection:
            try:
                where = compile_filter(q, lambda n: audience_id(connection, n)) if q else None
                rows = profile_page(connection, where, after, _PAGE)
                total = count_profiles(connection, where)
            except InvalidInput as exc:
                error = exc.message  # it quotes the filter with a caret at the position
        context = {
            "q": q,
            "rows": rows,
            "total": total,
            "error": error,
            "more": len(rows) == _PAGE,
        }
        template = "profile_results.html" if request.headers.get("hx-request") else "profiles.html"
        return pages.render(request, template, context)

    @router.get("/profiles/{profile_id}")
    def profile(request: Request, profile_id: int, _: Annotated[User, Depends(viewer)]) -> Response:
        with engine.connect() as connection:
            found = get_profile(connection, profile_id)
        return pages.render(request, "profile.html", {"profile": found})

    return router
