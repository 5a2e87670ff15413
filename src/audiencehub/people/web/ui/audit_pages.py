"""The people service's *Audit* page: its audit trail, newest first, for admins (the
entries name who looked up or erased IDs, and who changed what decides where data goes;
see :mod:`audiencehub.people.audit_trail`)."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from audiencehub.people.audit_trail import AuditKind, list_audit, summary
from audiencehub.people.clients import ApiClient
from audiencehub.people.web.ui.pages import Guard
from audiencehub.webui import Pages

__all__ = ["audit_pages"]

_PAGE = 50


def audit_pages(engine: Engine, pages: Pages, admin: Guard) -> APIRouter:
    """``/audit``, a page of entries at a time, all or of one kind."""
    router = APIRouter(include_in_schema=False)

    @router.get("/audit")
    def audit(
        request: Request,
        _: Annotated[ApiClient, Depends(admin)],
        kind: AuditKind | None = None,
        before: Annotated[int | None, Query(ge=1)] = None,
    ) -> Response:
        with engine.connect() as connection:
            entries = list_audit(connection, _PAGE, before, kind=kind)
        rows = [{**entry, "what": summary(entry)} for entry in entries]
        older = entries[-1]["id"] if len(entries) == _PAGE else None
        context = {"entries": rows, "kind": kind, "older": older}
        return pages.render(request, "audit.html", context)

    return router
