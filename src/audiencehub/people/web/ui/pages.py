"""The people service's pages: data sources with export controls, traits, segments with
a rule editor that validates and sizes the rule as it is typed, destinations, ingest
receipts, publications and API clients."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
import calendar
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection, Engine

from audiencehub.errors import AudienceHubError
from audiencehub.people.clients import (
    SECRET_OVERLAP,
    ApiClient,
    ClientRole,
    actor_of,
    list_clients,
    register_client,
    replace_secret,
    revoke_client,
)
from audiencehub.people.data_sources import (
    ExportControl,
    InboundIdType,
    add_data_source,
    list_data_sources,
    update_data_source,
)
from audiencehub.people.destinations import EXPORT_LABELS, add_destination, list_destinations
from audiencehub.people.jobs import PeopleJob, job_history
from audiencehub.people.materialise import SegmentAt, ids_at, segment_at
from audiencehub.people.receipts import receipt_page
from audiencehub.people.segment_sizes import size_history, trend_start
from audiencehub.people.segments import (
    MergeRule,
    add_segment,
    get_segment,
    list_segments,
    preview_rule,
    refresh_segment,
    update_segment,
)
from audiencehub.people.traits import add_trait, list_traits, parse_trait_rule
from audiencehub.people.web.operations_api import JobRunner, run_now
from audiencehub.restapi.downloads import csv_download
from audiencehub.webui import Pages, Tasks

__all__ = ["people_pages"]

Guard = Callable[[Request], Awaitable[ApiClient]]

# the days of a segment's population trend its page draws
_TREND_DAYS = 90


def people_pages(
    engine: Engine,
    pages: Pages,
    reader: Guard,
    admin: Guard,
    tasks: Tasks,
    jobs: JobRunner | None,
) -> APIRouter:
    """Every page of the people service but sign-in; ``jobs`` runs a job now, as a task."""
    router = APIRouter(include_in_schema=False)
    Reader = Annotated[ApiClient, Depends(reader)]  # noqa: N806 -- a parameter type
    Admin = Annotated[ApiClient, Depends(admin)]  # noqa: N806 -- a parameter type

    def page(request: Request, template: str, **context: Any) -> Response:
        return pages.render(request, template, context)

    def clients_page(
        request: Request, connection: Connection, made: dict[str, Any] | None = None
    ) -> Response:
        """The clients, with the secret just made (``made``) shown this once."""
        clients = list_clients(connection)
        return page(request, "clients.html", clients=clients, roles=list(ClientRole), made=made)

    def change(
        request: Request,
        work: Callable[[Connection], object],
        done: str,
        listing: Callable[[Request, str, str], Response],
        after: Callable[[], object] | None = None,
    ) -> Response:
        """Apply ``work`` in one transaction (then ``after``) and go to ``done``; a refusal
        shows ``listing`` again, with what is wrong and how to fix it."""
        try:
            with engine.begin() as connection:
                work(connection)
            if after is not None:
                after()
        except AudienceHubError as exc:
            return listing(request, exc.message, exc.hint)
        return RedirectResponse(done, status_code=303)

    @router.get("/")
    def overview(request: Request, _: Reader) -> Response:
        with engine.connect() as connection:
            counts = {
                "data sources": len(list_data_sources(connection)),
                "traits": len(list_traits(connection)),
                "segments": len(list_segments(connection)),
                "destinations": len(list_destinations(connection)),
            }
            receipts = receipt_page(connection, None, 5)
        return page(
            request,
            "overview.html",
            counts=counts,
            receipts=receipts,
            runs=job_history(engine, 8),
            jobs=list(PeopleJob),
            tasks=tasks.recent(5),
        )

    @router.post("/jobs/{job}/run")
    def run_job(job: PeopleJob, request: Request, caller: Admin) -> Response:
        task = tasks.start(
            f"{job.value}", caller["client_id"], lambda: run_now(jobs, job), link="/"
        )
        return pages.render(request, "task.html", {"task": task})

    def source_list(request: Request, error: str = "", hint: str = "") -> Response:
        with engine.connect() as connection:
            rows = list_data_sources(connection)
        return page(
            request,
            "datasources.html",
            sources=rows,
            controls=list(ExportControl),
            id_types=list(InboundIdType),
            error=error,
            hint=hint,
        )

    @router.get("/datasources")
    def data_sources(request: Request, _: Reader) -> Response:
        return source_list(request)

    @router.post("/datasources")
    def add_source(
        request: Request,
        caller: Admin,
        dpid: Annotated[int, Form(gt=0, le=2_147_483_647)],
        name: Annotated[str, Form(min_length=1, max_length=255)],
        inbound_id_type: Annotated[InboundIdType, Form()],
    ) -> Response:
        return change(
            request,
            lambda c: add_data_source(
                c, dpid=dpid, name=name, inbound_id_type=inbound_id_type, actor=actor_of(caller)
            ),
            "/datasources",
            source_list,
        )

    @router.post("/datasources/{dpid}/controls")
    async def set_controls(dpid: int, request: Request, caller: Admin) -> Response:
        form = await request.form()
        chosen = [ExportControl(v) for v in form.getlist("control") if isinstance(v, str)]
        with engine.begin() as connection:
            update_data_source(connection, dpid, export_controls=chosen, actor=actor_of(caller))
        return RedirectResponse("/datasources", status_code=303)

    def trait_list(request: Request, error: str = "", hint: str = "") -> Response:
        with engine.connect() as connection:
            rows = list_traits(connection)
            sources = list_data_sources(connection)
        return page(request, "traits.html", traits=rows, sources=sources, error=error, hint=hint)

    @router.get("/traits")
    def traits(request: Request, _: Reader) -> Response:
        return trait_list(request)

    @router.post("/traits")
    def add_trait_page(
        request: Request,
        caller: Admin,
        trait_id: Annotated[int, Form(gt=0, le=2_147_483_647)],
        name: Annotated[str, Form(min_length=1, max_length=255)],
        data_source_id: Annotated[int, Form(gt=0, le=2_147_483_647)],
        rule: Annotated[str, Form(max_length=2_000)] = "",
    ) -> Response:
        return change(
            request,
            lambda c: add_trait(
                c,
                trait_id=trait_id,
                name=name,
                data_source_id=data_source_id,
                rule=parse_trait_rule(rule) if rule.strip() else None,
                actor=actor_of(caller),
            ),
            "/traits",
            trait_list,
        )

    def segment_list(request: Request, error: str = "", hint: str = "") -> Response:
        with engine.connect() as connection:
            rows = list_segments(connection)
        return page(
            request,
            "segments.html",
            segments=rows,
            merge_rules=list(MergeRule),
            check={"size": None, "error": "", "hint": ""},
            error=error,
            hint=hint,
        )

    @router.get("/segments")
    def segments(request: Request, _: Reader) -> Response:
        return segment_list(request)

    @router.post("/segments")
    def add_segment_page(
        request: Request,
        caller: Admin,
        segment_id: Annotated[int, Form(gt=0, le=2_147_483_647)],
        name: Annotated[str, Form(min_length=1, max_length=255)],
        rule: Annotated[str, Form(min_length=1, max_length=10_000)],
        merge_rule: Annotated[MergeRule, Form()] = MergeRule.DEVICE,
    ) -> Response:
        return change(
            request,
            lambda c: add_segment(
                c,
                segment_id=segment_id,
                name=name,
                rule=rule,
                merge_rule=merge_rule,
                actor=actor_of(caller),
            ),
            f"/segments/{segment_id}",
            segment_list,
            after=lambda: refresh_segment(engine, segment_id),
        )

    @router.get("/segments/{segment_id}")
    def segment(
        request: Request, segment_id: int, _: Reader, at: datetime | None = None
    ) -> Response:
        """A segment's rule, its population over the last days, and (``at``) what it held
        at a past moment, for an audit."""
        first = trend_start(_TREND_DAYS)
        with engine.connect() as connection:
            found = get_segment(connection, segment_id)
            trend = size_history(connection, segment_id, first)
        series = {
            "range": [calendar.timegm(first.timetuple()), int(time.time())],
            "x": [calendar.timegm(entry["day"].timetuple()) for entry in trend],
            "series": [{"label": "IDs", "values": [entry["size"] for entry in trend]}],
        }
        then: SegmentAt | None = None
        problem: AudienceHubError | None = None
        if at is not None:
            try:
                then = segment_at(engine, segment_id, at)
            except AudienceHubError as exc:
                problem = exc
        return page(
            request,
            "segment.html",
            segment=found,
            merge_rules=list(MergeRule),
            check={"size": found["size"] if found["sized_at"] else None, "error": ""},
            trend=trend,
            trend_days=_TREND_DAYS,
            series=json.dumps(series),
            at=at,
            then=then,
            problem=problem,
        )

    @router.get("/segments/{segment_id}/held.csv")
    def segment_then_ids(segment_id: int, at: datetime, _: Admin) -> Response:
        """The IDs the segment held at ``at``, as CSV (admins: they are personal data)."""
        with engine.connect() as connection:
            get_segment(connection, segment_id)
        held = segment_at(engine, segment_id, at)
        rows = ((external_id,) for external_id in ids_at(engine, held))
        return csv_download(["id"], rows, f"segment-{segment_id}-snapshot-{held.snapshot}")

    @router.post("/segments/check")
    def check_rule(
        request: Request,
        _: Reader,
        rule: Annotated[str, Form(max_length=10_000)] = "",
        merge_rule: Annotated[MergeRule, Form()] = MergeRule.DEVICE,
    ) -> Response:
        try:
            with engine.connect() as connection:
                check = {"size": preview_rule(connection, rule, merge_rule), "error": ""}
        except AudienceHubError as exc:
            check = {"size": None, "error": exc.message, "hint": exc.hint}
        return page(request, "rule_check.html", check=check)

    @router.post("/segments/{segment_id}")
    def save_segment(
        request: Request,
        segment_id: int,
        caller: Admin,
        rule: Annotated[str, Form(max_length=10_000)],
        merge_rule: Annotated[MergeRule, Form()] = MergeRule.DEVICE,
    ) -> Response:
        try:
            with engine.begin() as connection:
                update_segment(
                    connection, segment_id, rule=rule, merge_rule=merge_rule, actor=actor_of(caller)
                )
            refresh_segment(engine, segment_id)
        except AudienceHubError as exc:
            check = {"size": None, "error": exc.message, "hint": exc.hint}
            return page(request, "rule_check.html", check=check)
        return RedirectResponse(f"/segments/{segment_id}", status_code=303)

    def destination_list(request: Request, error: str = "", hint: str = "") -> Response:
        with engine.connect() as connection:
            rows = list_destinations(connection)
            segment_rows = list_segments(connection)
            sources = list_data_sources(connection)
        return page(
            request,
            "destinations.html",
            destinations=rows,
            segments=segment_rows,
            labels=sorted(EXPORT_LABELS),
            sources=sources,
            error=error,
            hint=hint,
        )

    @router.get("/destinations")
    def destinations(request: Request, _: Reader) -> Response:
        return destination_list(request)

    @router.post("/destinations")
    def add_destination_page(
        request: Request,
        caller: Admin,
        destination_id: Annotated[int, Form(alias="id", gt=0, le=2_147_483_647)],
        name: Annotated[str, Form(min_length=1, max_length=255)],
        drop_url: Annotated[str, Form(min_length=1, max_length=2048)],
        id_type: Annotated[str, Form(max_length=16)] = "visitor",
        data_source_id: Annotated[str, Form(max_length=10)] = "",
        segment: Annotated[list[int] | None, Form()] = None,
        label: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        return change(
            request,
            lambda c: add_destination(
                c,
                destination_id=destination_id,
                name=name,
                drop_url=drop_url.strip(),
                id_type=id_type,
                data_source_id=int(data_source_id) if data_source_id.isdigit() else None,
                segment_ids=segment or [],
                export_labels=label or [],
                actor=actor_of(caller),
            ),
            "/destinations",
            destination_list,
        )

    @router.get("/receipts")
    def receipts(request: Request, _: Reader) -> Response:
        with engine.connect() as connection:
            rows = receipt_page(connection, None, 50)
        return page(request, "receipts.html", receipts=rows)

    @router.get("/publications")
    def publications(request: Request, _: Reader) -> Response:
        return page(request, "publications.html", runs=job_history(engine, 30, PeopleJob.PUBLISH))

    @router.get("/clients")
    def clients(request: Request, _: Admin) -> Response:
        with engine.connect() as connection:
            return clients_page(request, connection)

    @router.post("/clients")
    def add_client(
        request: Request,
        caller: Admin,
        name: Annotated[str, Form(min_length=1, max_length=255)],
        role: Annotated[ClientRole, Form()] = ClientRole.PARTNER,
    ) -> Response:
        with engine.begin() as connection:
            client_id, secret = register_client(connection, name, role, actor=actor_of(caller))
            return clients_page(request, connection, {"client_id": client_id, "secret": secret})

    @router.post("/clients/{client_id}/secret")
    def rotate(
        request: Request,
        client_id: str,
        caller: Admin,
        leaked: Annotated[bool, Form()] = False,
    ) -> Response:
        overlap = timedelta(0) if leaked else SECRET_OVERLAP
        with engine.begin() as connection:
            secret, until = replace_secret(
                connection, client_id, overlap=overlap, actor=actor_of(caller)
            )
            made = {"client_id": client_id, "secret": secret, "replaced": True, "until": until}
            return clients_page(request, connection, made)

    @router.post("/clients/{client_id}/revoke")
    def revoke(client_id: str, caller: Admin) -> Response:
        if client_id != caller["client_id"]:
            with engine.begin() as connection:
                revoke_client(connection, client_id, actor=actor_of(caller))
        return RedirectResponse("/clients", status_code=303)

    return router
