"""Signed-in sessions of the web UI, and the CSRF token that goes with each.

A session is 32 random bytes the browser keeps in an HttpOnly cookie; the
database keeps only its SHA-256 and expiry, so a copied database signs nobody
in. Its CSRF token is an HMAC of the session under a fixed label: a page the
user's browser loads from elsewhere can make the browser send the cookie, but
cannot read it, so it cannot know the token an unsafe request must carry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, delete, insert, select

from audiencehub.campaign.schema import user_sessions, users
from audiencehub.campaign.users import User, user_columns, user_of_row
from audiencehub.errors import InvalidCredentials

__all__ = ["Session", "csrf_token_of", "end_session", "session_user", "start_session"]


class Session(NamedTuple):
    """A new session: the cookie's value, the CSRF token of its forms, and its expiry."""

    token: str
    csrf_token: str
    expires_at: datetime


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def csrf_token_of(session_token: str) -> str:
    """The CSRF token of a session (derived, so nothing more is stored)."""
    key = session_token.encode("utf-8", "surrogateescape")
    return hmac.new(key, b"audiencehub csrf", hashlib.sha256).hexdigest()


def start_session(connection: Connection, user: User, lifetime: timedelta) -> Session:
    """Open a session for a user who has just proved who they are; expired ones go."""
    now = datetime.now(UTC)
    connection.execute(delete(user_sessions).where(user_sessions.c.expires_at < now))
    token = secrets.token_urlsafe(32)
    connection.execute(
        insert(user_sessions).values(
            session_hash=_digest(token),
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
        .where(user_sessions.c.session_hash == _digest(token))
    ).first()
    expires = row.expires_at if row is not None else None
    if expires is not None and expires.tzinfo is None:  # SQLite keeps naive UTC
        expires = expires.replace(tzinfo=UTC)
    if row is None or row.disabled or expires is None or expires <= datetime.now(UTC):
        raise InvalidCredentials("the session is unknown, expired or signed out", hint=SIGN_IN)
    return user_of_row(row)


def end_session(connection: Connection, token: str) -> None:
    """Sign out: the session stops working at once."""
    connection.execute(delete(user_sessions).where(user_sessions.c.session_hash == _digest(token)))


SIGN_IN = "Sign in again (POST /api/v1/session)."
