"""The people service's web pages, on its own port, for viewer and admin API clients.

They sign in with a client's id and secret (the roles are the administration
API's) and read and change the same core the API does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from sqlalchemy import Connection, Engine

from audiencehub.people.clients import ApiClient, ClientRole, require_role
from audiencehub.people.ui_sessions import end_page_session, page_client, start_page_session
from audiencehub.people.web.operations_api import JobRunner
from audiencehub.people.web.ui.audit_pages import audit_pages
from audiencehub.people.web.ui.id_pages import id_pages
from audiencehub.people.web.ui.pages import people_pages
from audiencehub.problems import HtmlError
from audiencehub.sign_ins import SignInGate
from audiencehub.webui import Pages, Tasks
from audiencehub.webui.guard import SignInNeeded, guard, sign_in_redirect
from audiencehub.webui.signin import SignIn, signin_router

__all__ = ["NAV", "install_people_pages"]

COOKIE = "audiencehub_people_session"
NAV = [
    ("/", "Overview"),
    ("/datasources", "Data sources"),
    ("/traits", "Traits"),
    ("/segments", "Segments"),
    ("/destinations", "Destinations"),
    ("/ids", "IDs"),
    ("/receipts", "Receipts"),
    ("/publications", "Publications"),
    ("/clients", "API clients"),
    ("/audit", "Audit"),
    ("/api/docs", "API"),
]
_HOURS = 12


def install_people_pages(
    app: FastAPI, engine: Engine, gate: SignInGate, jobs: JobRunner | None = None
) -> HtmlError:
    """Add the pages to ``app``; returns the renderer of error pages."""
    pages = Pages(Path(__file__).parent.parent / "templates", "audiencehub people service", NAV)

    def lookup(session: str) -> ApiClient:
        with engine.connect() as connection:
            return page_client(connection, session)

    def admits(*roles: ClientRole) -> Callable[[Request], Awaitable[ApiClient]]:
        return guard(COOKIE, lookup, lambda client: require_role(client, *roles))

    def start(connection: Connection, client_id: str, secret: str) -> str:
        return start_page_session(connection, client_id, secret, timedelta(hours=_HOURS)).token

    tasks = Tasks()
    reader = admits(ClientRole.VIEWER, ClientRole.ADMIN)
    admin = admits(ClientRole.ADMIN)
    labels = ("Client id", "Client secret")
    sign_in = SignIn(COOKIE, _HOURS * 3600, gate, start, end_page_session, labels=labels)
    app.include_router(signin_router(pages, sign_in, reader, tasks))
    app.include_router(people_pages(engine, pages, reader, admin, tasks, jobs))
    app.include_router(id_pages(engine, pages, reader, admin))
    app.include_router(audit_pages(engine, pages, admin))
    app.add_exception_handler(SignInNeeded, sign_in_redirect)

    return pages.error_page
