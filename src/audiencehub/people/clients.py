"""OAuth2 client credentials for partners: registered clients and short-lived bearer tokens.

Client secrets and tokens are random 256-bit values, so a SHA-256 of each is
what is stored: a leaked database reveals neither. Secrets are shown once, at
registration, and never logged or returned again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from audiencehub.errors import InvalidCredentials
from audiencehub.people.schema import api_clients, api_tokens

__all__ = ["TOKEN_HINT", "TOKEN_LIFETIME", "issue_token", "register_client", "verify_token"]

TOKEN_LIFETIME = timedelta(hours=1)


TOKEN_HINT = "Obtain a token from /oauth/token with the client id and secret."  # noqa: S105 -- a hint, not a secret


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def register_client(connection: Connection, name: str) -> tuple[str, str]:
    """Register a partner; returns (client id, client secret), the secret for this once."""
    client_id = "ah_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    connection.execute(
        insert(api_clients),
        {
            "client_id": client_id,
            "name": name,
            "secret_sha256": _digest(secret),
            "created_at": datetime.now(UTC),
        },
    )
    return client_id, secret


def issue_token(connection: Connection, client_id: str, client_secret: str) -> tuple[str, int]:
    """A bearer token for valid client credentials, with its lifetime in seconds."""
    stored = connection.execute(
        select(api_clients.c.secret_sha256).where(api_clients.c.client_id == client_id)
    ).scalar()
    # compare in constant time, and spend the same work for unknown clients
    expected = stored or _digest(secrets.token_hex(16))
    if not hmac.compare_digest(expected, _digest(client_secret)) or stored is None:
        raise InvalidCredentials("the client id or secret is wrong", hint=TOKEN_HINT)
    now = datetime.now(UTC)
    connection.execute(delete(api_tokens).where(api_tokens.c.expires_at < now))
    token = secrets.token_urlsafe(32)
    connection.execute(
        insert(api_tokens),
        {
            "token_sha256": _digest(token),
            "client_id": client_id,
            "expires_at": now + TOKEN_LIFETIME,
        },
    )
    return token, int(TOKEN_LIFETIME.total_seconds())


def verify_token(connection: Connection, token: str) -> str:
    """The client a bearer token belongs to; refuses unknown and expired tokens."""
    row = connection.execute(
        select(api_tokens.c.client_id, api_tokens.c.expires_at).where(
            api_tokens.c.token_sha256 == _digest(token)
        )
    ).first()
    if row is None:
        raise InvalidCredentials("the bearer token is not valid", hint=TOKEN_HINT)
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires <= datetime.now(UTC):
        raise InvalidCredentials("the bearer token has expired", hint=TOKEN_HINT)
    return str(row.client_id)
