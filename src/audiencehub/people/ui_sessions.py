"""Sessions of the people service's pages, signed in with a viewer or admin API client.

The people service's API is used by clients with roles; its pages are used by
the same credentials, so the roles are the API's. Partners (campaign's
connection) do not sign in to the pages.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, delete, insert, select

from audiencehub.errors import InvalidCredentials
from audiencehub.people.clients import ApiClient, ClientRole, authenticate_client, client_of_row
from audiencehub.people.schema import api_clients, ui_sessions
from audiencehub.webui.credentials import csrf_token_of, new_session_token, session_digest

__all__ = ["PageSession", "end_page_session", "page_client", "start_page_session"]

SIGN_IN = "Sign in again with a viewer's or an admin's client id and secret."


class PageSession(NamedTuple):
    """A new session: the cookie's value and the CSRF token of its forms."""

    token: str
    csrf_token: str


def start_page_session(
    connection: Connection, client_id: str, secret: str, lifetime: timedelta
) -> PageSession:
    """Sign a viewer or admin client in; expired sessions go."""
    client = authenticate_client(connection, client_id, secret)
    if client["role"] == ClientRole.PARTNER:
        raise InvalidCredentials(
            "a partner client does not sign in to the pages",
            hint="Use a viewer's or an admin's client (people clients add --role viewer).",
        )
    now = datetime.now(UTC)
    connection.execute(delete(ui_sessions).where(ui_sessions.c.expires_at < now))
    token = new_session_token()
    connection.execute(
        insert(ui_sessions).values(
            session_hash=session_digest(token), client_id=client_id, expires_at=now + lifetime
        )
    )
    return PageSession(token, csrf_token_of(token))


def page_client(connection: Connection, token: str) -> ApiClient:
    """The client of a live session."""
    row = connection.execute(
        select(api_clients, ui_sessions.c.expires_at)
        .join(ui_sessions, ui_sessions.c.client_id == api_clients.c.client_id)
        .where(ui_sessions.c.session_hash == session_digest(token))
    ).first()
    if row is None or row.expires_at <= datetime.now(UTC):
        raise InvalidCredentials("the session is unknown, expired or signed out", hint=SIGN_IN)
    return client_of_row(row._mapping)


def end_page_session(connection: Connection, token: str) -> str | None:
    """Sign out. Returns the id of the client whose session it was (None: no session had
    that token)."""
    digest = session_digest(token)
    owner = connection.execute(
        select(ui_sessions.c.client_id).where(ui_sessions.c.session_hash == digest)
    ).scalar()
    connection.execute(delete(ui_sessions).where(ui_sessions.c.session_hash == digest))
    return owner
