"""Signed-in sessions of campaign's users (the web pages and ``POST /api/v1/session``).

The tokens and their CSRF tokens are :mod:`audiencehub.webui.credentials`';
the database keeps each session's digest, its user and its expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, delete, insert, select

from audiencehub.campaign.schema import user_sessions, users
from audiencehub.campaign.users import User, user_columns, user_of_row
from audiencehub.errors import InvalidCredentials
from audiencehub.webui.credentials import csrf_token_of, new_session_token, session_digest

__all__ = ["Session", "csrf_token_of", "end_session", "session_user", "start_session"]


class Session(NamedTuple):
    """A new session: the cookie's value, the CSRF token of its forms, and its expiry."""

    token: str
    csrf_token: str
    expires_at: datetime


def start_session(connection: Connection, user: User, lifetime: timedelta) -> Session:
    """Open a session for a user who has just proved who they are; expired ones go."""
    now = datetime.now(UTC)
    connection.execute(delete(user_sessions).where(user_sessions.c.expires_at < now))
    token = new_session_token()
    connection.execute(
        insert(user_sessions).values(
            session_hash=session_digest(token),
            user_id=user["id"],
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return Session(token, csrf_token_of(token), now + lifetime)


def session_user(connection: Connection, token: str) -> User:
    """The user of a live session of an enabled user."""
    row = connection.execute(
        select(*user_columns(), user_sessions.c.expires_at)
        .join(user_sessions, user_sessions.c.user_id == users.c.id)
        .where(user_sessions.c.session_hash == session_digest(token))
    ).first()
    expires = row.expires_at if row is not None else None
    if expires is not None and expires.tzinfo is None:  # SQLite keeps naive UTC
        expires = expires.replace(tzinfo=UTC)
    if row is None or row.disabled or expires is None or expires <= datetime.now(UTC):
        raise InvalidCredentials("the session is unknown, expired or signed out", hint=SIGN_IN)
    return user_of_row(row)


def end_session(connection: Connection, token: str) -> str | None:
    """Sign out: the session stops working at once. Returns the name of the user whose
    session it was (None: no session had that token)."""
    digest = session_digest(token)
    owner = connection.execute(
        select(users.c.name)
        .join(user_sessions, user_sessions.c.user_id == users.c.id)
        .where(user_sessions.c.session_hash == digest)
    ).scalar()
    connection.execute(delete(user_sessions).where(user_sessions.c.session_hash == digest))
    return owner


SIGN_IN = "Sign in again (POST /api/v1/session)."
