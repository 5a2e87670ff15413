"""Audiences over ``/api/v1``: list, read, rename, delete, import shared ones, share them,
and their members, paged as JSON or downloaded whole as CSV with chosen profile fields.

The CSV download streams from a database cursor in batches: a million members
are sent with the memory of one batch, never held whole.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from audiencehub.campaign.audiences import (
    MEMBER_FIELDS,
    Audience,
    check_member_fields,
    delete_audience,
    get_audience,
    list_audiences,
    member_page,
    member_rows,
    rename_audience,
)
from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sharing.export_job import Share, share_audience
from audiencehub.campaign.sharing.people_link import PeopleSegment
from audiencehub.campaign.sharing.shared_audiences import create_shared_audience
from audiencehub.campaign.users import Role, User
from audiencehub.campaign.web.access import Access
from audiencehub.restapi import Cursor, Limit, Page, check_if_match, page_of, page_rows, with_etag
from audiencehub.restapi.apps import example
from audiencehub.restapi.downloads import csv_download, download_name
from audiencehub.restapi.paging import id_or_text_key

__all__ = ["audiences_router"]

_CSV_EXAMPLE = "profile_id,address,email\n1,,jo@example.com\n"
Name = Annotated[
    str,
    Path(
        min_length=1, max_length=255, description="The audience's name.", examples=["Shoe buyers"]
    ),
]


def _fields(fields: str | None) -> list[str]:
    chosen = [field.strip() for field in (fields or "").split(",") if field.strip()]
    check_member_fields(chosen)
    return chosen


FieldsQuery = Annotated[
    str | None,
    Query(
        max_length=1024,
        description=f"Comma-separated profile fields beside the id: {', '.join(MEMBER_FIELDS)}.",
        examples=["email,first_name,country"],
    ),
]


class SharedImport(BaseModel):
    """A shared audience to create, filled by importSharedAudience from a people segment."""

    name: str = Field(min_length=1, max_length=255, examples=["Shoe buyers"])
    segment_id: int = Field(gt=0, le=2_147_483_647, examples=[900])
    data_source_id: str = Field(min_length=1, max_length=32, examples=["AMCDS1"])
    force_profile: bool = Field(default=True, description="Keep only IDs that match a profile.")


class Rename(BaseModel):
    """An audience's new name."""

    name: str = Field(min_length=1, max_length=255, examples=["Shoe buyers (FR)"])


class ShareRequest(BaseModel):
    """Where to share an audience: a segment (id, or a title created if new) and a source."""

    shared_audience: str = Field(min_length=1, max_length=255, examples=["Campaign openers"])
    data_source_id: str = Field(min_length=1, max_length=32, examples=["AMCDS1"])


def audiences_router(services: CampaignServices, access: Access) -> APIRouter:
    """Audience routes."""
    router = APIRouter(prefix="/api/v1", tags=["audiences"])
    viewer, marketer = access.needs(Role.VIEWER), access.needs(Role.MARKETER)
    engine = services.engine

    @router.get("/audiences")
    def audiences(
        _: Annotated[User, Depends(viewer)], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[Audience]:
        """Audiences with type, size, data source and last update, by name."""
        with engine.connect() as connection:
            return page_of(list_audiences(connection), lambda a: a["name"], cursor, limit)

    @router.post("/audiences/shared", status_code=201)
    def import_shared_audience(
        body: SharedImport, _: Annotated[User, Depends(marketer)]
    ) -> Audience:
        """Import a shared audience (the data source's terms must be accepted)."""
        with engine.begin() as connection:
            create_shared_audience(
                connection,
                name=body.name,
                segment_id=body.segment_id,
                data_source_id=body.data_source_id,
                force_profile=body.force_profile,
            )
            return get_audience(connection, body.name)

    @router.get(
        "/shared-audiences",
        responses=example(
            200,
            [
                {
                    "id": 900,
                    "title": "Shoe buyers",
                    "source": "CRM",
                    "size": 33400,
                    "active": True,
                    "modified": "2026-12-01T06:00:00+00:00",
                    "integration_code": None,
                    "data_source_id": None,
                }
            ],
        ),
    )
    def people_segments(_: Annotated[User, Depends(viewer)]) -> list[PeopleSegment]:
        """The people service's shared audiences, through the connection (the import picker)."""
        with engine.connect() as connection:
            client = services.people_client(connection)
        return client.shared_audiences()

    @router.get("/audiences/{name}")
    def show_audience(
        name: Name, response: Response, _: Annotated[User, Depends(viewer)]
    ) -> Audience:
        """An audience: type, size and its last import report."""
        with engine.connect() as connection:
            return with_etag(response, get_audience(connection, name))

    @router.patch("/audiences/{name}")
    def change_audience(
        name: Name,
        body: Rename,
        request: Request,
        response: Response,
        _: Annotated[User, Depends(marketer)],
    ) -> Audience:
        """Rename an audience."""
        with engine.begin() as connection:
            check_if_match(request.headers.get("if-match"), get_audience(connection, name))
            return with_etag(response, rename_audience(connection, name, body.name))

    @router.delete("/audiences/{name}", status_code=204)
    def remove_audience(name: Name, _: Annotated[User, Depends(marketer)]) -> None:
        """Delete an audience and its membership (refused while it is shared)."""
        with engine.begin() as connection:
            delete_audience(connection, name)

    @router.post("/audiences/{name}/shares", status_code=201)
    def share(name: Name, body: ShareRequest, _: Annotated[User, Depends(marketer)]) -> Share:
        """Share an audience into a people segment; exportSharedAudience sends it."""
        with engine.begin() as connection:
            return share_audience(
                connection,
                source_audience=name,
                shared_audience=body.shared_audience,
                data_source_id=body.data_source_id,
                client=lambda: services.people_client(connection),
            )

    @router.get("/audiences/{name}/members")
    def members(
        name: Name,
        _: Annotated[User, Depends(viewer)],
        fields: FieldsQuery = None,
        cursor: Cursor = None,
        limit: Limit = 100,
    ) -> Page[dict[str, Any]]:
        """Members by profile id (by address for file audiences), with chosen profile fields."""
        chosen = _fields(fields)
        with engine.connect() as connection:
            get_audience(connection, name)
            return page_rows(
                lambda after, n: member_page(connection, name, chosen, after, n),
                lambda m: m["address"] if m["profile_id"] is None else m["profile_id"],
                cursor,
                limit,
                id_or_text_key,
            )

    @router.get(
        "/audiences/{name}/members.csv",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {
                    "text/csv": {"example": "profile_id,address,email\n1,,jo@example.com\n"}
                }
            }
        },
    )
    def members_csv(
        name: Name, _: Annotated[User, Depends(viewer)], fields: FieldsQuery = None
    ) -> StreamingResponse:
        """Every member as CSV (profile id, address, then the chosen fields), streamed."""
        chosen = _fields(fields)
        with engine.connect() as connection:
            get_audience(connection, name)  # a missing audience is a 404, not a broken stream

        def rows() -> Iterator[Sequence[Any]]:
            with engine.connect() as connection:
                yield from member_rows(connection, name, chosen)

        return csv_download(
            ["profile_id", "address", *chosen], rows(), download_name(name, "audience")
        )

    return router
