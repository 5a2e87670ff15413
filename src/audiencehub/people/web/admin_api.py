"""The people service's administration API for what it holds: data sources, traits,
segments and destinations, under ``/api/v1`` (its operations are in
:mod:`.operations_api`).

A viewer client reads; an admin client also creates, changes and deletes.
Deleting what others refer to is refused with what refers to it (a trait a
segment names, a segment a destination publishes). Changes may send the ETag
they read in ``If-Match``.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from audiencehub.people.audit_trail import AuditEntry, AuditKind, list_audit
from audiencehub.people.clients import (
    ApiClient,
    ClientRole,
    actor_of,
)
from audiencehub.people.data_sources import (
    DataSource,
    ExportControl,
    IdType,
    InboundIdType,
    add_data_source,
    delete_data_source,
    get_data_source,
    list_data_sources,
    update_data_source,
)
from audiencehub.people.destinations import (
    Destination,
    add_destination,
    delete_destination,
    get_destination,
    list_destinations,
    update_destination,
)
from audiencehub.people.id_record import ErasedId, IdRecord, erase_id, id_record
from audiencehub.people.materialise import SegmentAt, ids_at, segment_at
from audiencehub.people.segment_sizes import HISTORY_DAYS, SegmentSize, size_history, trend_start
from audiencehub.people.segments import (
    MergeRule,
    Segment,
    delete_segment,
    get_segment,
    refresh_segment,
    update_segment,
)
from audiencehub.people.traits import (
    Trait,
    add_trait,
    delete_trait,
    get_trait,
    list_traits,
    update_trait,
)
from audiencehub.restapi import Cursor, Limit, Page, check_if_match, page_of, page_rows, with_etag
from audiencehub.restapi.downloads import csv_download

__all__ = ["MAX_ID", "admin_router"]

_HELD_EXAMPLE = "id\n31098765432109876543210987654321098765\n"

MAX_ID = 2_147_483_647  # data source, segment, trait and destination ids are 32-bit integers
Id = Annotated[int, Path(gt=0, le=MAX_ID, examples=[900])]
DpidPath = Annotated[int, Path(ge=0, le=MAX_ID, description="0 for visitor IDs.", examples=[7001])]
ExternalIdPath = Annotated[str, Path(min_length=1, max_length=512, examples=["CRM-0001"])]
Days = Annotated[
    int,
    Query(ge=1, le=HISTORY_DAYS, description="How many days back, today included.", examples=[90]),
]
At = Annotated[
    datetime,
    Query(
        description="A past moment: a date (its midnight) or an ISO 8601 time, UTC when it "
        "names no zone.",
        examples=["2026-12-01T09:00:00Z"],
    ),
]


class NewDataSource(BaseModel):
    """A data source; its id is the DPID partners put in file names."""

    id: int = Field(gt=0, le=MAX_ID, examples=[7001])
    name: str = Field(min_length=1, max_length=255, examples=["CRM (hashed emails)"])
    inbound_id_type: InboundIdType = Field(examples=["customer"])
    integration_code: str | None = Field(default=None, max_length=255)
    id_type: IdType = IdType.CROSS_DEVICE
    authenticated_profile: bool = False
    share_enabled: bool = True
    export_controls: list[ExportControl] = Field(default_factory=list, max_length=8)
    retention_days: int = Field(default=720, ge=1, le=36_500)


class DataSourceChange(BaseModel):
    """What can change of a data source."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    share_enabled: bool | None = None
    export_controls: list[ExportControl] | None = Field(default=None, max_length=8)
    retention_days: int | None = Field(default=None, ge=1, le=36_500)


class NewTrait(BaseModel):
    """An onboarded trait, or a rule trait realised by key-values (all must hold)."""

    id: int = Field(gt=0, le=MAX_ID, examples=[101])
    name: str = Field(min_length=1, max_length=255, examples=["Bought shoes"])
    data_source_id: int = Field(gt=0, le=MAX_ID, examples=[7001])
    integration_code: str | None = Field(default=None, max_length=255)
    rule: dict[str, str] | None = Field(default=None, examples=[{"product": "shoes"}])


class TraitChange(BaseModel):
    """A trait's new name or rule."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    rule: dict[str, str] | None = None


class SegmentChange(BaseModel):
    """A segment's new name, rule or merge rule."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    rule: str | None = Field(
        default=None, min_length=1, max_length=10_000, examples=["T101 AND NOT T102"]
    )
    merge_rule: MergeRule | None = None


class NewDestination(BaseModel):
    """A campaign destination: a drop location, the IDs it takes, its segments and labels."""

    id: int = Field(gt=0, le=MAX_ID, examples=[46390])
    name: str = Field(min_length=1, max_length=255, examples=["Campaign"])
    drop_url: str = Field(min_length=1, max_length=2048, examples=["s3://shared/import/"])
    id_type: str = Field(pattern="^(visitor|declared)$", examples=["declared"])
    segment_ids: list[int] = Field(default_factory=list, max_length=10_000)
    data_source_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    export_labels: list[str] = Field(default_factory=list, max_length=8)
    split_rows: int = Field(default=1_000_000, ge=1, le=100_000_000)


class DestinationChange(BaseModel):
    """A destination's new name, segments or labels."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    segment_ids: list[int] | None = Field(default=None, max_length=10_000)
    export_labels: list[str] | None = Field(default=None, max_length=8)


def admin_router(engine: Engine, admits: Any) -> APIRouter:
    """Administration routes on ``engine``'s people database; ``admits(*roles)`` makes the
    dependency that lets clients of those roles in."""
    router = APIRouter(prefix="/api/v1")
    reader = admits(ClientRole.VIEWER, ClientRole.ADMIN)
    partner_or_reader = admits(ClientRole.PARTNER, ClientRole.VIEWER, ClientRole.ADMIN)
    admin = admits(ClientRole.ADMIN)
    # type aliases of the route parameters, made here because they close over ``admits``
    Reader = Annotated[ApiClient, Depends(reader)]  # noqa: N806
    Admin = Annotated[ApiClient, Depends(admin)]  # noqa: N806

    def if_match(request: Request, current: Any) -> None:
        check_if_match(request.headers.get("if-match"), current)

    @router.get("/datasources", tags=["data sources"])
    def data_sources(_: Reader, cursor: Cursor = None, limit: Limit = 100) -> Page[DataSource]:
        """Data sources with their export controls, by DPID."""
        with engine.connect() as connection:
            return page_of(list_data_sources(connection), lambda s: s["id"], cursor, limit)

    @router.post("/datasources", tags=["data sources"], status_code=201)
    def create_data_source(body: NewDataSource, caller: Admin) -> DataSource:
        """Create a data source."""
        fields = body.model_dump()
        with engine.begin() as connection:
            return add_data_source(
                connection, dpid=fields.pop("id"), actor=actor_of(caller), **fields
            )

    @router.get("/datasources/{dpid}", tags=["data sources"])
    def show_data_source(
        dpid: Annotated[int, Path(ge=0, le=MAX_ID, examples=[7001])],
        response: Response,
        _: Annotated[ApiClient, Depends(partner_or_reader)],
    ) -> DataSource:
        """One data source's settings, with its ETag."""
        with engine.connect() as connection:
            return with_etag(response, get_data_source(connection, dpid))

    @router.patch("/datasources/{dpid}", tags=["data sources"])
    def change_data_source(
        dpid: Id, body: DataSourceChange, request: Request, response: Response, caller: Admin
    ) -> DataSource:
        """Change a data source's name, sharing, export controls or retention."""
        with engine.begin() as connection:
            if_match(request, get_data_source(connection, dpid))
            changed = update_data_source(
                connection, dpid, actor=actor_of(caller), **body.model_dump()
            )
            return with_etag(response, changed)

    @router.delete("/datasources/{dpid}", tags=["data sources"], status_code=204)
    def remove_data_source(dpid: Id, caller: Admin) -> None:
        """Delete a data source nothing refers to."""
        with engine.begin() as connection:
            delete_data_source(connection, dpid, actor=actor_of(caller))

    @router.get("/traits", tags=["traits"])
    def traits(_: Reader, cursor: Cursor = None, limit: Limit = 100) -> Page[Trait]:
        """Traits, by id."""
        with engine.connect() as connection:
            return page_of(list_traits(connection), lambda t: t["id"], cursor, limit)

    @router.post("/traits", tags=["traits"], status_code=201)
    def create_trait(body: NewTrait, caller: Admin) -> Trait:
        """Create a trait."""
        fields = body.model_dump()
        with engine.begin() as connection:
            return add_trait(
                connection, trait_id=fields.pop("id"), actor=actor_of(caller), **fields
            )

    @router.get("/traits/{trait_id}", tags=["traits"])
    def show_trait(trait_id: Id, response: Response, _: Reader) -> Trait:
        """One trait, with its ETag."""
        with engine.connect() as connection:
            return with_etag(response, get_trait(connection, trait_id))

    @router.patch("/traits/{trait_id}", tags=["traits"])
    def change_trait(
        trait_id: Id, body: TraitChange, request: Request, response: Response, caller: Admin
    ) -> Trait:
        """Rename a trait or change its rule."""
        with engine.begin() as connection:
            if_match(request, get_trait(connection, trait_id))
            changed = update_trait(
                connection, trait_id, actor=actor_of(caller), **body.model_dump()
            )
            return with_etag(response, changed)

    @router.delete("/traits/{trait_id}", tags=["traits"], status_code=204)
    def remove_trait(trait_id: Id, caller: Admin) -> None:
        """Delete a trait no segment names, with its realisations."""
        with engine.begin() as connection:
            delete_trait(connection, trait_id, actor=actor_of(caller))

    @router.get("/segments/{segment_id}", tags=["segments"])
    def show_segment(segment_id: Id, response: Response, _: Reader) -> Segment:
        """One segment: its rule, merge rule and current size."""
        with engine.connect() as connection:
            return with_etag(response, get_segment(connection, segment_id))

    @router.get("/ids/{dpid}/{external_id:path}", tags=["ids"])
    def id_lookup(dpid: DpidPath, external_id: ExternalIdPath, caller: Admin) -> IdRecord:
        """Everything held about one ID (admins only: personal data), for an access
        request or to see why it is or is not in a segment: its graph record, linked
        IDs, opt-outs, traits, key-values, segments and destinations."""
        return id_record(engine, dpid, external_id, actor=actor_of(caller))

    @router.delete("/ids/{dpid}/{external_id:path}", tags=["ids"])
    def id_erasure(dpid: DpidPath, external_id: ExternalIdPath, caller: Admin) -> ErasedId:
        """Erase one ID (the right to be forgotten): its traits, key-values and memberships
        from the lake, then its graph record, links and opt-outs; the destinations it was
        published to are sent its removal at their next publication."""
        return erase_id(engine, dpid, external_id, actor=actor_of(caller))

    @router.get("/audit", tags=["audit"])
    def audit(
        _: Admin, cursor: Cursor = None, limit: Limit = 100, kind: AuditKind | None = None
    ) -> Page[AuditEntry]:
        """The audit trail, newest first: who read or erased what is held about an ID (the
        ID as the SHA-256 of ``dpid:id``, never as itself), and who created, changed or
        deleted a data source, trait, segment, destination or API client (what it was
        made, each setting from what to what, or what it was), and who signed in to the
        pages or took a token, or was refused. ``kind``: only ``ids``, ``changes`` or
        ``sign-ins``."""
        with engine.connect() as connection:
            return page_rows(
                lambda before, n: list_audit(connection, n, before, kind=kind),
                lambda e: e["id"],
                cursor,
                limit,
            )

    @router.get("/segments/{segment_id}/sizes", tags=["segments"])
    def segment_trend(segment_id: Id, _: Reader, days: Days = 90) -> list[SegmentSize]:
        """A segment's population trend: its size on each of the last ``days`` days (UTC)
        it was materialised, the day's last materialisation, oldest first."""
        with engine.connect() as connection:
            get_segment(connection, segment_id)
            return size_history(connection, segment_id, trend_start(days))

    @router.get("/segments/{segment_id}/held", tags=["segments"])
    def segment_then(segment_id: Id, at: At, _: Reader) -> SegmentAt:
        """What a segment held at a past moment, for an audit: the lake's snapshot then
        and the segment's size in it (its last materialisation before the moment)."""
        with engine.connect() as connection:
            get_segment(connection, segment_id)
        return segment_at(engine, segment_id, at)

    @router.get(
        "/segments/{segment_id}/held.csv",
        tags=["segments"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {"example": _HELD_EXAMPLE}}}},
    )
    def segment_then_ids(segment_id: Id, at: At, _: Admin) -> StreamingResponse:
        """The IDs a segment held at a past moment, as CSV, streamed (admins only: they
        are personal data). An ID the graph has forgotten since is left out."""
        with engine.connect() as connection:
            get_segment(connection, segment_id)
        held = segment_at(engine, segment_id, at)  # a moment before the lake is a 404

        def rows() -> Iterator[tuple[str]]:
            return ((external_id,) for external_id in ids_at(engine, held))

        return csv_download(["id"], rows(), f"segment-{segment_id}-snapshot-{held.snapshot}")

    @router.patch("/segments/{segment_id}", tags=["segments"])
    def change_segment(
        segment_id: Id, body: SegmentChange, request: Request, response: Response, caller: Admin
    ) -> Segment:
        """Rename a segment or change its rule (checked: every trait it names exists)."""
        with engine.begin() as connection:
            if_match(request, get_segment(connection, segment_id))
            changed = update_segment(
                connection, segment_id, actor=actor_of(caller), **body.model_dump()
            )
        if changed["sized_at"] is None:  # a new rule: what it holds now
            changed = refresh_segment(engine, segment_id)
        return with_etag(response, changed)

    @router.delete("/segments/{segment_id}", tags=["segments"], status_code=204)
    def remove_segment(segment_id: Id, caller: Admin) -> None:
        """Delete a segment no destination publishes."""
        with engine.begin() as connection:
            delete_segment(connection, segment_id, actor=actor_of(caller))

    @router.get("/destinations", tags=["destinations"])
    def destinations(_: Reader, cursor: Cursor = None, limit: Limit = 100) -> Page[Destination]:
        """Destinations, by id."""
        with engine.connect() as connection:
            return page_of(list_destinations(connection), lambda d: d["id"], cursor, limit)

    @router.post("/destinations", tags=["destinations"], status_code=201)
    def create_destination(body: NewDestination, caller: Admin) -> Destination:
        """Create a destination; segments its labels may not carry are refused."""
        fields = body.model_dump()
        with engine.begin() as connection:
            return add_destination(
                connection, destination_id=fields.pop("id"), actor=actor_of(caller), **fields
            )

    @router.get("/destinations/{destination_id}", tags=["destinations"])
    def show_destination(destination_id: Id, response: Response, _: Reader) -> Destination:
        """One destination, with its ETag."""
        with engine.connect() as connection:
            return with_etag(response, get_destination(connection, destination_id))

    @router.patch("/destinations/{destination_id}", tags=["destinations"])
    def change_destination(
        destination_id: Id,
        body: DestinationChange,
        request: Request,
        response: Response,
        caller: Admin,
    ) -> Destination:
        """Change a destination's name, segments or labels (checked as at creation)."""
        with engine.begin() as connection:
            if_match(request, get_destination(connection, destination_id))
            changed = update_destination(
                connection, destination_id, actor=actor_of(caller), **body.model_dump()
            )
            return with_etag(response, changed)

    @router.delete("/destinations/{destination_id}", tags=["destinations"], status_code=204)
    def remove_destination(destination_id: Id, caller: Admin) -> None:
        """Delete a destination and its published state."""
        with engine.begin() as connection:
            delete_destination(connection, destination_id, actor=actor_of(caller))

    return router
