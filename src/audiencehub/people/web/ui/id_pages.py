"""The people service's *IDs* page: an admin looks up everything held about one ID and
may erase it after ticking a confirmation (:mod:`audiencehub.people.id_record`); other
clients are told it is for admins."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from audiencehub.errors import AudienceHubError, InvalidInput
from audiencehub.people.clients import ApiClient, ClientRole, actor_of
from audiencehub.people.data_sources import list_data_sources
from audiencehub.people.id_record import ErasedId, IdRecord, erase_id, id_record
from audiencehub.people.web.ui.pages import Guard
from audiencehub.webui import Pages

__all__ = ["id_pages"]

_MAX_DPID = 2_147_483_647


def _shown(record: IdRecord) -> dict[str, Any]:
    """The record's tables as the page writes them: ids as text (a table writes numbers
    with thousands commas), key-values a row each."""
    shown: dict[str, Any] = {
        name: [
            {k: str(v) if k.endswith("_id") and isinstance(v, int) else v for k, v in row.items()}
            for row in record[name]
        ]
        for name in ("linked", "traits", "segments", "published")
    }
    shown["signals"] = [
        {"key": key, "values": ", ".join(values)} for key, values in record["signals"].items()
    ]
    return shown


def id_pages(engine: Engine, pages: Pages, reader: Guard, admin: Guard) -> APIRouter:
    """The lookup and the erasure."""
    router = APIRouter(include_in_schema=False)
    Reader = Annotated[ApiClient, Depends(reader)]  # noqa: N806 -- a parameter type
    Admin = Annotated[ApiClient, Depends(admin)]  # noqa: N806 -- a parameter type

    def page(
        request: Request,
        dpid: int,
        external_id: str,
        *,
        record: IdRecord | None = None,
        erased: ErasedId | None = None,
        problem: AudienceHubError | None = None,
    ) -> Response:
        with engine.connect() as connection:
            sources = list_data_sources(connection)
        context = {
            "sources": sources,
            "dpid": dpid,
            "external_id": external_id,
            "record": record,
            "shown": _shown(record) if record is not None else {},
            "erased": erased,
            "problem": problem,
        }
        return pages.render(request, "ids.html", context)

    @router.get("/ids")
    def ids(
        request: Request,
        client: Reader,
        dpid: Annotated[int, Query(ge=0, le=_MAX_DPID)] = 0,
        external_id: Annotated[str, Query(alias="id", max_length=512)] = "",
    ) -> Response:
        """Everything held about one ID, for admins (the template says so to others)."""
        if not external_id or client["role"] != ClientRole.ADMIN:
            return page(request, dpid, external_id)
        try:
            record = id_record(engine, dpid, external_id, actor=actor_of(client))
        except AudienceHubError as exc:
            return page(request, dpid, external_id, problem=exc)
        return page(request, dpid, external_id, record=record)

    @router.post("/ids/erase")
    def erase(
        request: Request,
        caller: Admin,
        dpid: Annotated[int, Form(ge=0, le=_MAX_DPID)],
        external_id: Annotated[str, Form(alias="id", min_length=1, max_length=512)],
        confirm: Annotated[str, Form()] = "",
    ) -> Response:
        """Erase one ID once the admin has ticked the confirmation."""
        try:
            if confirm != "yes":
                raise InvalidInput(
                    "the erasure was not confirmed", hint="Tick the box to confirm it."
                )
            erased = erase_id(engine, dpid, external_id, actor=actor_of(caller))
        except AudienceHubError as exc:
            return page(request, dpid, external_id, problem=exc)
        return page(request, dpid, "", erased=erased)

    return router
