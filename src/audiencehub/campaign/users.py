"""The people who use campaign: users with a role, and their personal API tokens.

A role is a level: a viewer reads, a marketer also acts (runs workflows, sends
messages, imports and shares audiences), an admin also manages users. Passwords
are hashed with argon2 (argon2-cffi's defaults, RFC 9106's recommended
parameters); a token is 32 random bytes shown once, stored as its SHA-256, so a
request finds it by index and a copied database holds no usable credential.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from typing_extensions import TypedDict

from audiencehub.campaign.schema import audit_log, user_sessions, user_tokens, users
from audiencehub.db.audit_trail import record_change
from audiencehub.errors import Forbidden, InvalidCredentials, InvalidInput, NotFound

__all__ = [
    "TOKEN_PREFIX",
    "Role",
    "Token",
    "User",
    "actor_named",
    "actor_of",
    "add_user",
    "authenticate_password",
    "authenticate_token",
    "create_token",
    "disable_user",
    "get_user",
    "list_tokens",
    "list_users",
    "require",
    "revoke_token",
    "set_password",
    "set_role",
    "user_columns",
    "user_of_row",
]

TOKEN_PREFIX = "ahp_"  # noqa: S105 -- a prefix that makes a leaked token recognisable
_MIN_PASSWORD = 12
_hasher = PasswordHasher()


class Role(enum.StrEnum):
    """What a user may do; each role may do everything the ones before it may."""

    VIEWER = "viewer"
    MARKETER = "marketer"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


class User(TypedDict):
    """A user as shown: never the password hash."""

    id: int
    name: str
    role: Role
    disabled: bool
    created_at: datetime


class Token(TypedDict):
    """A personal token as shown: never the token."""

    id: int
    user: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


_USER_COLUMNS = (users.c.id, users.c.name, users.c.role, users.c.disabled, users.c.created_at)


def user_columns() -> tuple[Any, ...]:
    """The columns a shown user is made of (for queries that join users)."""
    return _USER_COLUMNS


def user_of_row(row: Row[Any]) -> User:
    """The shown fields of a row that may hold more (a hash, a token id): never those."""
    fields = row._mapping
    return User(
        id=fields["id"],
        name=fields["name"],
        role=Role(fields["role"]),
        disabled=bool(fields["disabled"]),
        created_at=fields["created_at"],
    )


def _check_password(password: str) -> None:
    if len(password) < _MIN_PASSWORD:
        raise InvalidInput(
            f"the password has {len(password)} characters; at least {_MIN_PASSWORD} are needed",
            hint="Use a passphrase of several words.",
        )


def actor_of(user: User) -> str:
    """How the audit trail names what a user did through the API or the pages."""
    return f"user {user['name']}"


def actor_named(connection: Connection, name: str) -> str | None:
    """How the audit trail names the user ``name`` (None: there is no such user)."""
    found = connection.execute(select(users.c.name).where(users.c.name == name)).first()
    return None if found is None else f"user {found.name}"


def add_user(
    connection: Connection, name: str, password: str, role: Role, *, actor: str | None = None
) -> User:
    """Create a user; the name is unique and the password is kept only as its hash
    (``actor``: who, for the audit trail; None: the operating-system user)."""
    if not name.strip() or len(name) > 255:
        raise InvalidInput("a user name is 1 to 255 characters")
    _check_password(password)
    try:
        with connection.begin_nested():
            connection.execute(
                insert(users).values(
                    name=name,
                    password_hash=_hasher.hash(password),
                    role=Role(role).value,
                    disabled=False,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        raise InvalidInput(f"a user named {name!r} already exists") from None
    created = get_user(connection, name)
    record_change(
        connection, audit_log, "user added", actor=actor, after=_shown(created), user=name
    )
    return created


def _shown(user: User) -> dict[str, object]:
    """What the trail keeps of a user: the settings an admin gives (ids are the name's)."""
    return {"role": user["role"], "disabled": user["disabled"]}


def get_user(connection: Connection, name: str) -> User:
    """One user by name."""
    row = connection.execute(select(*_USER_COLUMNS).where(users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user named {name!r}", hint="List them with: audiencehub users list")
    return user_of_row(row)


def list_users(connection: Connection) -> list[User]:
    """Every user, by name."""
    return [
        user_of_row(r) for r in connection.execute(select(*_USER_COLUMNS).order_by(users.c.name))
    ]


def set_password(
    connection: Connection, name: str, password: str, *, actor: str | None = None
) -> None:
    """Replace a user's password (the trail says it was, never what to). The user's
    sessions end: a password is replaced when it may be known to someone else, who may
    have signed in with it. Their tokens are credentials of their own, revoked apart."""
    user = get_user(connection, name)
    _check_password(password)
    connection.execute(
        update(users).where(users.c.name == name).values(password_hash=_hasher.hash(password))
    )
    _end_sessions(connection, user["id"])
    record_change(connection, audit_log, "password replaced", actor=actor, user=name)


def set_role(connection: Connection, name: str, role: Role, *, actor: str | None = None) -> None:
    """Give a user another role."""
    _change_user(connection, name, actor, role=Role(role).value)


def disable_user(connection: Connection, name: str, *, actor: str | None = None) -> None:
    """Disable a user: their password, sessions and every token stop working; nothing else
    is deleted, so what they did stays attributed to them."""
    _change_user(connection, name, actor, disabled=True)
    _end_sessions(connection, get_user(connection, name)["id"])


def _end_sessions(connection: Connection, user_id: int) -> None:
    """Sign a user out everywhere."""
    connection.execute(delete(user_sessions).where(user_sessions.c.user_id == user_id))


def _change_user(connection: Connection, name: str, actor: str | None, **values: object) -> None:
    """Set a user's ``values``, and write what changed to the audit trail."""
    current = get_user(connection, name)
    connection.execute(update(users).where(users.c.name == name).values(**values))
    changed = get_user(connection, name)
    record_change(
        connection,
        audit_log,
        "user changed",
        actor=actor,
        before=_shown(current),
        after=_shown(changed),
        user=name,
    )


def authenticate_password(connection: Connection, name: str, password: str) -> User:
    """The user whose name and password these are; one answer for every failure."""
    row = connection.execute(
        select(*_USER_COLUMNS, users.c.password_hash).where(users.c.name == name)
    ).first()
    stored = row.password_hash if row is not None else _dummy_hash()
    try:
        _hasher.verify(stored, password)  # a missing user costs the same time
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        row = None
    if row is None or row.disabled:
        raise InvalidCredentials("unknown user or wrong password")
    if _hasher.check_needs_rehash(row.password_hash):
        connection.execute(
            update(users).where(users.c.id == row.id).values(password_hash=_hasher.hash(password))
        )
    return user_of_row(row)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown, made on first need: hashing is
    deliberately slow, and every CLI start imports this module."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def create_token(
    connection: Connection, user_name: str, name: str, *, actor: str | None = None
) -> tuple[int, str]:
    """A new personal token of ``user_name``: its id, and the token, shown this once
    (the trail keeps its id, owner and name)."""
    user = get_user(connection, user_name)
    if user["disabled"]:
        raise InvalidInput(f"user {user_name!r} is disabled")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    result = connection.execute(
        insert(user_tokens).values(
            user_id=user["id"],
            name=name,
            token_hash=_digest(token),
            created_at=datetime.now(UTC),
        )
    )
    token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    record_change(
        connection,
        audit_log,
        "token created",
        actor=actor,
        after={"name": name},
        token_id=token_id,
        user=user_name,
    )
    return token_id, token


def list_tokens(connection: Connection, owner: str | None = None) -> list[Token]:
    """Every token (of the user ``owner`` only, if given), newest first, without the tokens
    themselves."""
    query = (
        select(
            user_tokens.c.id,
            users.c.name.label("user"),
            user_tokens.c.name,
            user_tokens.c.created_at,
            user_tokens.c.last_used_at,
            user_tokens.c.revoked_at,
        )
        .join(users, users.c.id == user_tokens.c.user_id)
        .order_by(user_tokens.c.id.desc())
    )
    if owner is not None:
        query = query.where(users.c.name == owner)
    return [cast(Token, dict(row)) for row in connection.execute(query).mappings()]


def revoke_token(connection: Connection, token_id: int, *, actor: str | None = None) -> None:
    """Revoke a token for good (it stays listed, with when it was revoked)."""
    result = connection.execute(
        update(user_tokens)
        .where(user_tokens.c.id == token_id, user_tokens.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    if result.rowcount == 0:
        raise NotFound(f"no active token {token_id}", hint="List them: audiencehub tokens list")
    record_change(connection, audit_log, "token revoked", actor=actor, token_id=token_id)


def authenticate_token(connection: Connection, token: str, *, touch: bool = True) -> User:
    """The user a bearer token belongs to, if it is active and the user is enabled.

    ``touch`` records the use (``last_used_at``); online paths that must never wait
    for a bulk job's write lock read only.
    """
    row = connection.execute(
        select(*_USER_COLUMNS, user_tokens.c.id.label("token_id"))
        .join(user_tokens, user_tokens.c.user_id == users.c.id)
        .where(user_tokens.c.token_hash == _digest(token), user_tokens.c.revoked_at.is_(None))
    ).first()
    if row is None or row.disabled:
        raise InvalidCredentials("unknown, revoked or disabled token")
    if touch:
        connection.execute(
            update(user_tokens)
            .where(user_tokens.c.id == row.token_id)
            .values(last_used_at=datetime.now(UTC))
        )
    return user_of_row(row)


def require(user: User, needed: Role) -> None:
    """Refuse, with the role it takes, what ``user``'s role does not allow."""
    if not Role(user["role"]).allows(needed):
        raise Forbidden(
            f"user {user['name']!r} is a {user['role']}; this takes the {needed} role",
            hint="An admin can change roles with: audiencehub users role NAME ROLE",
        )
