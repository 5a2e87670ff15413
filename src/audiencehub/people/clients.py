"""OAuth2 client credentials: registered clients, their roles, and short-lived bearer tokens.

Client secrets and tokens are random 256-bit values, so a SHA-256 of each is
what is stored: a leaked database reveals neither. Secrets are shown once, at
registration or replacement, and never logged or returned again. A secret is
replaced as credentials are rotated: the previous one keeps working for a while
(a day by default), so a partner deploys the new one with no gap in service; a
secret that leaked is replaced with no overlap, which also ends its tokens.

A client's role says which routes it may call: a *partner* (campaign's
connection) lists and creates shared audiences and reads a data source; a
*viewer* reads the administration API; an *admin* also changes it (and may do
what a partner does).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from typing_extensions import TypedDict

from audiencehub.db.audit_trail import record_change
from audiencehub.errors import Forbidden, InvalidCredentials, InvalidInput, NotFound
from audiencehub.people.schema import api_clients, api_tokens, audit_log, ui_sessions

__all__ = [
    "SECRET_OVERLAP",
    "TOKEN_HINT",
    "TOKEN_LIFETIME",
    "ApiClient",
    "ClientRole",
    "actor_named",
    "actor_of",
    "authenticate_client",
    "client_of_row",
    "issue_token",
    "list_clients",
    "register_client",
    "replace_secret",
    "require_role",
    "revoke_client",
    "verify_client",
    "verify_token",
]


class ClientRole(enum.StrEnum):
    """What a client may call."""

    PARTNER = "partner"
    VIEWER = "viewer"
    ADMIN = "admin"


class ApiClient(TypedDict):
    """A client as shown: never its secret."""

    client_id: str
    name: str
    role: ClientRole
    created_at: datetime


def actor_of(client: ApiClient) -> str:
    """How an audit trail names what a client did."""
    return f"client {client['client_id']} ({client['name']})"


def actor_named(connection: Connection, client_id: str) -> str | None:
    """How an audit trail names the client ``client_id`` (None: there is no such client)."""
    row = connection.execute(select(*_SHOWN).where(api_clients.c.client_id == client_id)).first()
    return None if row is None else actor_of(client_of_row(row._mapping))


TOKEN_LIFETIME = timedelta(hours=1)


TOKEN_HINT = "Obtain a token from /oauth/token with the client id and secret."  # noqa: S105 -- a hint, not a secret


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


_SHOWN = (api_clients.c.client_id, api_clients.c.name, api_clients.c.role, api_clients.c.created_at)


def client_of_row(row: Any) -> ApiClient:
    return ApiClient(
        client_id=row["client_id"],
        name=row["name"],
        role=ClientRole(row["role"]),
        created_at=row["created_at"],
    )


def register_client(
    connection: Connection,
    name: str,
    role: ClientRole = ClientRole.PARTNER,
    *,
    actor: str | None = None,
) -> tuple[str, str]:
    """Register a client; returns (client id, client secret), the secret for this once
    (``actor``: who, for the audit trail, which never holds the secret)."""
    client_id = "ah_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    connection.execute(
        insert(api_clients),
        {
            "client_id": client_id,
            "name": name,
            "role": ClientRole(role).value,
            "secret_sha256": _digest(secret),
            "created_at": datetime.now(UTC),
        },
    )
    record_change(
        connection,
        audit_log,
        "client registered",
        actor=actor,
        after={"name": name, "role": ClientRole(role).value},
        client_id=client_id,
    )
    return client_id, secret


def authenticate_client(connection: Connection, client_id: str, client_secret: str) -> ApiClient:
    """The client whose credentials these are (its secret, or its previous one while that
    still works); one answer for every failure."""
    row = connection.execute(
        select(
            *_SHOWN,
            api_clients.c.secret_sha256,
            api_clients.c.previous_secret_sha256,
            api_clients.c.previous_secret_until,
        ).where(api_clients.c.client_id == client_id)
    ).first()
    # compare in constant time, both secrets always, and spend the same work for unknown
    # clients and clients with no previous secret
    given = _digest(client_secret)
    current = row.secret_sha256 if row is not None else _digest(secrets.token_hex(16))
    previous = (row.previous_secret_sha256 if row is not None else None) or _digest(
        secrets.token_hex(16)
    )
    until = row.previous_secret_until if row is not None else None
    matches = hmac.compare_digest(current, given)
    matches_previous = hmac.compare_digest(previous, given)
    if row is None or not (
        matches or (matches_previous and until is not None and until > datetime.now(UTC))
    ):
        raise InvalidCredentials("the client id or secret is wrong", hint=TOKEN_HINT)
    return client_of_row(row._mapping)


#: how long a replaced secret keeps working unless told otherwise
SECRET_OVERLAP = timedelta(hours=24)


def replace_secret(
    connection: Connection,
    client_id: str,
    *,
    overlap: timedelta = SECRET_OVERLAP,
    actor: str | None = None,
) -> tuple[str, datetime | None]:
    """Give a client a new secret, shown this once; returns it and until when the previous
    one still works. With an ``overlap`` (a routine rotation) the previous secret works
    that long beside the new one, and the tokens already issued run out as they would
    (within the hour). With none (a secret that leaked) it stops at once, and so do the
    client's tokens and page sessions."""
    found = connection.execute(
        select(api_clients.c.secret_sha256).where(api_clients.c.client_id == client_id)
    ).first()
    if found is None:
        raise NotFound(
            f"no API client {client_id!r}", hint="List them: audiencehub people clients list"
        )
    if overlap < timedelta(0):
        raise InvalidInput("the overlap is a duration of zero or more")
    secret = secrets.token_urlsafe(32)
    until = datetime.now(UTC) + overlap if overlap else None
    connection.execute(
        update(api_clients)
        .where(api_clients.c.client_id == client_id)
        .values(
            secret_sha256=_digest(secret),
            previous_secret_sha256=found.secret_sha256 if until else None,
            previous_secret_until=until,
        )
    )
    if until is None:
        connection.execute(delete(api_tokens).where(api_tokens.c.client_id == client_id))
        connection.execute(delete(ui_sessions).where(ui_sessions.c.client_id == client_id))
    previous = until.isoformat(timespec="seconds") if until else "stopped at once"
    record_change(
        connection,
        audit_log,
        "client secret replaced",
        actor=actor,
        client_id=client_id,
        previous_secret=previous,
    )
    return secret, until


def issue_token(connection: Connection, client_id: str, client_secret: str) -> tuple[str, int]:
    """A bearer token for valid client credentials, with its lifetime in seconds."""
    authenticate_client(connection, client_id, client_secret)
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
    return verify_client(connection, token)["client_id"]


def verify_client(connection: Connection, token: str) -> ApiClient:
    """The client a bearer token belongs to, with its role; refuses unknown and expired
    tokens."""
    row = connection.execute(
        select(*_SHOWN, api_tokens.c.expires_at)
        .join(api_clients, api_clients.c.client_id == api_tokens.c.client_id)
        .where(api_tokens.c.token_sha256 == _digest(token))
    ).first()
    if row is None:
        raise InvalidCredentials("the bearer token is not valid", hint=TOKEN_HINT)
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires <= datetime.now(UTC):
        raise InvalidCredentials("the bearer token has expired", hint=TOKEN_HINT)
    return client_of_row(row._mapping)


def require_role(client: ApiClient, *allowed: ClientRole) -> None:
    """Refuse a client whose role is not among ``allowed``."""
    if client["role"] not in allowed:
        raise Forbidden(
            f"client {client['client_id']} is a {client['role']}; this takes "
            + " or ".join(str(role) for role in allowed),
            hint="Register a client with the role it needs: audiencehub people clients add "
            "NAME --role ROLE",
        )


def list_clients(connection: Connection) -> list[ApiClient]:
    """Every client, never a secret."""
    rows = connection.execute(select(*_SHOWN).order_by(api_clients.c.created_at))
    return [client_of_row(row) for row in rows.mappings()]


def revoke_client(connection: Connection, client_id: str, *, actor: str | None = None) -> None:
    """Revoke a client for good: its secret, its tokens and its sessions stop working."""
    current = connection.execute(
        select(api_clients.c.name, api_clients.c.role).where(api_clients.c.client_id == client_id)
    ).first()
    if current is None:
        raise NotFound(
            f"no API client {client_id!r}", hint="List them: audiencehub people clients list"
        )
    connection.execute(delete(api_tokens).where(api_tokens.c.client_id == client_id))
    connection.execute(delete(ui_sessions).where(ui_sessions.c.client_id == client_id))
    connection.execute(delete(api_clients).where(api_clients.c.client_id == client_id))
    record_change(
        connection,
        audit_log,
        "client revoked",
        actor=actor,
        before=dict(current._mapping),
        client_id=client_id,
    )
