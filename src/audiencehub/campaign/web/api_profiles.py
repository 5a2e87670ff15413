"""Profiles over ``/api/v1``: search with the targeting language, read, change, erase, import.

A search pages by profile id, so new profiles never shift a page. A change
sends the ETag it read in ``If-Match``; an import takes a CSV body (as large as
``max_request_bytes`` allows; bigger files go through ``audiencehub profiles
import``) and answers the same report as the CLI, rejected rows counted.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
import tempfile
import time
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from audiencehub.campaign.audiences import audience_id
from audiencehub.campaign.profiles.editing import delete_profile, update_profile
from audiencehub.campaign.profiles.fields import UpsertKey
from audiencehub.campaign.profiles.file_import import import_profiles
from audiencehub.campaign.profiles.lookup import Profile, ProfileSummary, get_profile, profile_page
from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.users import Role, User, actor_of
from audiencehub.campaign.web.access import Access
from audiencehub.campaign.workflows.targeting import compile_filter
from audiencehub.restapi import Cursor, Limit, Page, check_if_match, page_rows, with_etag

__all__ = ["profiles_router"]

# One address for a profile whatever is done to it: read, changed (with the ETag read
# there) or erased. Two templates for one path (``{key}`` and ``{profile_id}``) are the
# same path to OpenAPI, which forbids them.
ProfileKey = Annotated[
    str,
    Path(
        min_length=1,
        max_length=320,
        description="The profile's email (any case), CRM id or numeric id; a key that "
        "names several profiles (a CRM id that is another's id) is refused.",
        examples=["jo@example.com"],
    ),
]


class ImportResult(BaseModel):
    """What an import did: ``read`` is the sum of the other four counts."""

    read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    kept_opt_outs: int
    rejects_file: str | None


_CHANGE_EXAMPLE = {"first_name": "Jo", "sms_opt_out": True, "attributes": {"tier": "gold"}}
_CSV_EXAMPLE = "email,first_name,country\njo@example.com,Jo,FR\n"


def profiles_router(services: CampaignServices, access: Access) -> APIRouter:
    """Profile routes."""
    router = APIRouter(prefix="/api/v1/profiles", tags=["profiles"])
    viewer, marketer = access.needs(Role.VIEWER), access.needs(Role.MARKETER)
    engine = services.engine

    @router.get("")
    def search_profiles(
        _: Annotated[User, Depends(viewer)],
        q: Annotated[
            str | None,
            Query(
                max_length=4096,
                description="A targeting filter, as in workflows.",
                examples=["country = 'FR' and not email_opt_out"],
            ),
        ] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[ProfileSummary]:
        """Profiles matching a filter, by id."""
        with engine.connect() as connection:
            where = compile_filter(q, lambda name: audience_id(connection, name)) if q else None
            return page_rows(
                lambda after, n: profile_page(connection, where, after, n),
                lambda p: p["id"],
                cursor,
                limit,
            )

    @router.get("/{key}")
    def show_profile(
        key: ProfileKey,
        response: Response,
        _: Annotated[User, Depends(viewer)],
    ) -> Profile:
        """One profile with its reconciliation keys, and its ETag."""
        with engine.connect() as connection:
            return with_etag(response, get_profile(connection, key))

    @router.patch("/{key}")
    def change_profile(
        key: ProfileKey,
        request: Request,
        response: Response,
        _: Annotated[User, Depends(marketer)],
        changes: Annotated[dict[str, Any], Body(examples=[_CHANGE_EXAMPLE])],
    ) -> Profile:
        """Change fields of a profile, whole or not at all (keys follow a new email or phone)."""
        with engine.begin() as connection:
            found = get_profile(connection, key)
            check_if_match(request.headers.get("if-match"), found)
            update_profile(connection, found["id"], changes)
            return with_etag(response, get_profile(connection, found["id"]))

    @router.delete("/{key}", status_code=204)
    def erase_profile(key: ProfileKey, me: Annotated[User, Depends(marketer)]) -> None:
        """Erase a profile everywhere it is personal; delivery counts stay, anonymous (the
        audit trail names who erased the profile of which id)."""
        with engine.begin() as connection:
            delete_profile(connection, get_profile(connection, key)["id"], actor=actor_of(me))

    @router.post(
        "/imports",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE}},
            }
        },
    )
    async def import_csv(
        request: Request,
        _: Annotated[User, Depends(marketer)],
        key: UpsertKey = UpsertKey.EMAIL,
        resubscribe: bool = False,
    ) -> ImportResult:
        """Upsert the profiles of a CSV body (header first), in one transaction."""
        uploads = services.path / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=uploads, suffix=".csv") as upload:
            async for chunk in request.stream():
                upload.write(chunk)
            upload.flush()
            report = await run_in_threadpool(
                lambda: import_profiles(
                    engine,
                    FilePath(upload.name),
                    key=key,
                    rejects_path=services.path / "rejects" / f"api-{time.time_ns()}.rejects.csv",
                    workers=1,
                    resubscribe=resubscribe,
                    default_region=services.settings.default_region,
                )
            )
        return ImportResult(
            read=report.read,
            inserted=report.inserted,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=report.rejected,
            kept_opt_outs=report.kept_opt_outs,
            rejects_file=str(report.rejects_path) if report.rejected else None,
        )

    return router
