"""Shared data sources (list, form, the data-use terms to read and accept), and the
external accounts and the connection, each with a *Test* button."""

# No `from __future__ import annotations`: FastAPI reads these annotations at run time.
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from audiencehub.campaign.services import CampaignServices
from audiencehub.campaign.sharing.accounts import Account, check_account, get_account
from audiencehub.campaign.sharing.data_sources import (
    DATA_USE_TERMS,
    ReconciliationKey,
    accept_terms,
    add_shared_data_source,
    get_shared_data_source,
    list_shared_data_sources,
)
from audiencehub.campaign.sharing.people_link import get_people_link
from audiencehub.campaign.users import Role, User, actor_of
from audiencehub.campaign.web.ui.access import PageAccess
from audiencehub.errors import AudienceHubError, NotFound
from audiencehub.identity import HashScheme

__all__ = ["sharing_pages"]


def _test_outcome(services: CampaignServices, what: str) -> dict[str, object]:
    """What a *Test* button shows: what was found, or what is wrong and how to fix it."""
    try:
        with services.engine.connect() as connection:
            if what == "connection":
                segments = services.people_client(connection).shared_audiences()
                found = [f"{s['id']}: {s['title']}" for s in segments]
            else:
                found = check_account(connection, services.vault, Account(what), services.path)
    except AudienceHubError as exc:
        return {"ok": False, "error": exc.message, "hint": exc.hint}
    return {"ok": True, "count": len(found), "sample": found[:10]}


def sharing_pages(access: PageAccess) -> APIRouter:
    """``/datasources`` and ``/accounts``."""
    router = APIRouter(include_in_schema=False)
    services, pages = access.services, access.pages
    engine = services.engine
    viewer, admin = access.needs(Role.VIEWER), access.needs(Role.ADMIN)

    def listing(request: Request, **context: object) -> Response:
        with engine.connect() as connection:
            sources = list_shared_data_sources(connection)
        return pages.render(
            request,
            "datasources.html",
            {
                "sources": sources,
                "keys": list(ReconciliationKey),
                "schemes": list(HashScheme),
                "error": "",
                "hint": "",
                **context,
            },
        )

    @router.get("/datasources")
    def data_sources(request: Request, _: Annotated[User, Depends(viewer)]) -> Response:
        return listing(request)

    @router.post("/datasources")
    def add(
        request: Request,
        me: Annotated[User, Depends(admin)],
        label: Annotated[str, Form(max_length=255)],
        key: Annotated[ReconciliationKey, Form()],
        hashing: Annotated[str, Form(max_length=16)] = "",
        alias_dpid: Annotated[str, Form(max_length=10)] = "",
        destination_id: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        try:
            with engine.begin() as connection:
                source = add_shared_data_source(
                    connection,
                    services.vault,
                    label=label,
                    key=key,
                    hashing=HashScheme(hashing) if hashing else None,
                    alias_dpid=int(alias_dpid) if alias_dpid.isdigit() else None,
                    destination_id=int(destination_id) if destination_id.isdigit() else None,
                    actor=actor_of(me),
                )
        except (AudienceHubError, ValueError) as exc:
            message = exc.message if isinstance(exc, AudienceHubError) else str(exc)
            hint = exc.hint if isinstance(exc, AudienceHubError) else ""
            return listing(request, error=message, hint=hint)
        return RedirectResponse(f"/datasources/{source['id']}", status_code=303)

    @router.get("/datasources/{source_id}")
    def data_source(
        request: Request, source_id: str, _: Annotated[User, Depends(viewer)]
    ) -> Response:
        with engine.connect() as connection:
            source = get_shared_data_source(connection, source_id)
        return pages.render(request, "datasource.html", {"source": source, "terms": DATA_USE_TERMS})

    @router.post("/datasources/{source_id}/terms")
    def accept(source_id: str, user: Annotated[User, Depends(admin)]) -> Response:
        with engine.begin() as connection:
            accept_terms(connection, source_id, user, actor=actor_of(user))
        return RedirectResponse(f"/datasources/{source_id}", status_code=303)

    @router.get("/accounts")
    def accounts(request: Request, _: Annotated[User, Depends(viewer)]) -> Response:
        with engine.connect() as connection:
            shown = [get_account(connection, name, services.path) for name in Account]
            try:
                link = get_people_link(connection)
            except NotFound:
                link = None
        return pages.render(request, "accounts.html", {"accounts": shown, "link": link})

    @router.post("/accounts/{what}/test")
    def test(request: Request, what: str, _: Annotated[User, Depends(viewer)]) -> Response:
        if what not in {"connection", *(account.value for account in Account)}:
            raise NotFound(f"nothing called {what!r} can be tested")
        return pages.render(request, "test_result.html", _test_outcome(services, what))

    return router
