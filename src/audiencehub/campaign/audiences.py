"""Campaign audiences and their members, whatever fills them (workflows, shared imports).

A base module of campaign: it imports no campaign sub-package, so profiles,
sharing and workflows can all reach it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, delete, func, insert, literal, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select
from typing_extensions import TypedDict

from audiencehub.campaign.schema import (
    audience_addresses,
    audience_members,
    audiences,
    profiles,
    shares,
)
from audiencehub.errors import InUse, InvalidInput, NotFound

__all__ = [
    "MEMBER_FIELDS",
    "Audience",
    "Member",
    "add_profile_members",
    "audience_id",
    "check_member_fields",
    "delete_audience",
    "get_audience",
    "list_audiences",
    "list_members",
    "member_page",
    "member_rows",
    "rename_audience",
]

# the profile fields a member list can carry beside the profile id (never keys or attributes)
MEMBER_FIELDS = (
    "crm_id",
    "email",
    "mobile_phone",
    "first_name",
    "last_name",
    "country",
    "birth_date",
    "email_opt_out",
    "sms_opt_out",
    "blocklisted",
    "created_at",
    "updated_at",
)


class Audience(TypedDict):
    """An audience with its current size and the report of its last import."""

    id: int
    name: str
    type: str  # shared | file | workflow
    segment_id: int | None
    data_source_id: str | None
    force_profile: bool
    last_report: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    size: int


class Member(TypedDict):
    """One member: a profile, and for file audiences the decrypted address."""

    profile_id: int | None
    address: str | None


_LIST_HINT = "List them with: audiencehub audiences list"


def _sized() -> Select[Any]:
    """Audiences with their sizes: members of profile audiences, addresses of file ones.

    Each size is a count correlated to its audience, read from the primary key's index,
    so asking for one audience counts that audience alone.
    """
    members, addresses = (
        select(func.count())
        .select_from(table)
        .where(table.c.audience_id == audiences.c.id)
        .scalar_subquery()
        for table in (audience_members, audience_addresses)
    )
    return select(audiences, (members + addresses).label("size"))


def get_audience(connection: Connection, name: str) -> Audience:
    """An audience with its size and last import report."""
    row = connection.execute(_sized().where(audiences.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no audience is named {name!r}", hint=_LIST_HINT)
    return cast(Audience, {**row, "size": int(row["size"])})


def list_audiences(connection: Connection) -> list[Audience]:
    """Every audience with its size, by name."""
    rows = connection.execute(_sized().order_by(audiences.c.name)).mappings()
    return [cast(Audience, {**row, "size": int(row["size"])}) for row in rows]


def rename_audience(connection: Connection, name: str, new_name: str) -> Audience:
    """Give an audience another name (workflows that read it by name must follow)."""
    if not new_name.strip() or len(new_name) > 255:
        raise InvalidInput("an audience name is 1 to 255 characters")
    found = audience_id(connection, name)
    try:
        with connection.begin_nested():
            connection.execute(
                update(audiences)
                .where(audiences.c.id == found)
                .values(name=new_name, updated_at=datetime.now(UTC))
            )
    except IntegrityError:
        raise InvalidInput(f"an audience named {new_name!r} already exists") from None
    return get_audience(connection, new_name)


def delete_audience(connection: Connection, name: str) -> None:
    """Delete an audience and its membership; refused while a share sends it to the people
    service (its segment would stop being updated without anyone knowing)."""
    found = audience_id(connection, name)
    shared = connection.execute(
        select(shares.c.segment_id).where(shares.c.source_audience_id == found)
    ).scalars()
    segments = sorted(set(shared))
    if segments:
        raise InUse(
            f"audience {name!r} is shared into people-service segment(s) "
            f"{', '.join(map(str, segments))}",
            hint="Stop sharing it first; its members stay in the segment until they expire.",
        )
    connection.execute(delete(audience_members).where(audience_members.c.audience_id == found))
    connection.execute(delete(audience_addresses).where(audience_addresses.c.audience_id == found))
    connection.execute(delete(audiences).where(audiences.c.id == found))


def audience_id(connection: Connection, name: str) -> int:
    """The id of the audience called ``name`` (for filters that test membership)."""
    found = connection.execute(select(audiences.c.id).where(audiences.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"no audience is named {name!r}", hint=_LIST_HINT)
    return int(found)


def list_members(connection: Connection, name: str) -> list[Member]:
    """Members of an audience: profile ids, and addresses for file audiences."""
    query, _ = _member_query(get_audience(connection, name), ())
    return [cast(Member, dict(row)) for row in connection.execute(query).mappings()]


def check_member_fields(fields: Sequence[str]) -> None:
    """Refuse fields a member list cannot carry, naming those it can."""
    unknown = [field for field in fields if field not in MEMBER_FIELDS]
    if unknown:
        raise InvalidInput(
            f"{', '.join(unknown)}: not a member field",
            hint=f"Choose among: {', '.join(MEMBER_FIELDS)}.",
        )


def _member_query(audience: Audience, fields: Sequence[str]) -> tuple[Select[Any], Any]:
    """Members with ``fields`` of their profiles, and the column they are ordered by."""
    check_member_fields(fields)
    chosen = [profiles.c[field] for field in fields]
    if audience["type"] == "file":
        table, key = audience_addresses, audience_addresses.c.address
        columns: list[Any] = [table.c.profile_id, table.c.address]
    else:
        table, key = audience_members, audience_members.c.profile_id
        columns = [table.c.profile_id, null().label("address")]
    query = (
        select(*columns, *chosen)
        .select_from(table.outerjoin(profiles, profiles.c.id == table.c.profile_id))
        .where(table.c.audience_id == audience["id"])
        .order_by(key)
    )
    return query, key


def member_page(
    connection: Connection, name: str, fields: Sequence[str], after: Any, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` members after the key ``after`` (a profile id, or an address for file
    audiences), with the chosen profile fields."""
    audience = get_audience(connection, name)
    query, key = _member_query(audience, fields)
    expected = str if audience["type"] == "file" else int
    if after is not None and (not isinstance(after, expected) or isinstance(after, bool)):
        raise InvalidInput(
            f"members of {name!r} are paged by {'address' if expected is str else 'profile id'}",
            hint="Send the next_cursor of the previous page unchanged.",
        )
    if after is not None:
        query = query.where(key > after)
    return [dict(row) for row in connection.execute(query.limit(limit)).mappings()]


def member_rows(
    connection: Connection, name: str, fields: Sequence[str]
) -> Iterator[tuple[Any, ...]]:
    """Every member with the chosen fields, streamed from the database in batches."""
    query, _ = _member_query(get_audience(connection, name), fields)
    result = connection.execution_options(yield_per=10_000).execute(query)
    for row in result:
        yield tuple(row)


def add_profile_members(connection: Connection, audience: int, profile_ids: Select[Any]) -> None:
    """Add the profiles a one-column query selects, in one statement."""
    ids = profile_ids.subquery()
    column = next(iter(ids.c))
    connection.execute(
        insert(audience_members).from_select(
            ["audience_id", "profile_id"], select(literal(audience), column)
        )
    )
