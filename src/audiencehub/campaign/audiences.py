"""Campaign audiences and their members, whatever fills them (workflows, shared imports).

A base module of campaign: it imports no campaign sub-package, so profiles,
sharing and workflows can all reach it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, func, insert, literal, null, select
from sqlalchemy.sql import Select
from typing_extensions import TypedDict

from audiencehub.campaign.schema import audience_addresses, audience_members, audiences
from audiencehub.errors import NotFound

__all__ = [
    "Audience",
    "Member",
    "add_profile_members",
    "audience_id",
    "get_audience",
    "list_members",
]


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


def get_audience(connection: Connection, name: str) -> Audience:
    """An audience with its size and last import report."""
    row = connection.execute(select(audiences).where(audiences.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no audience is named {name!r}")
    audience = cast(Audience, dict(row))
    table = audience_addresses if audience["type"] == "file" else audience_members
    audience["size"] = int(
        connection.execute(
            select(func.count()).select_from(table).where(table.c.audience_id == audience["id"])
        ).scalar_one()
    )
    return audience


def audience_id(connection: Connection, name: str) -> int:
    """The id of the audience called ``name`` (for filters that test membership)."""
    found = connection.execute(select(audiences.c.id).where(audiences.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"no audience is named {name!r}")
    return int(found)


def list_members(connection: Connection, name: str) -> list[Member]:
    """Members of an audience: profile ids, and addresses for file audiences."""
    audience = get_audience(connection, name)
    if audience["type"] == "file":
        query = (
            select(audience_addresses.c.profile_id, audience_addresses.c.address)
            .where(audience_addresses.c.audience_id == audience["id"])
            .order_by(audience_addresses.c.address)
        )
    else:
        query = (
            select(audience_members.c.profile_id, null().label("address"))
            .where(audience_members.c.audience_id == audience["id"])
            .order_by(audience_members.c.profile_id)
        )
    return [cast(Member, dict(row)) for row in connection.execute(query).mappings()]


def add_profile_members(connection: Connection, audience: int, profile_ids: Select[Any]) -> None:
    """Add the profiles a one-column query selects, in one statement."""
    ids = profile_ids.subquery()
    column = next(iter(ids.c))
    connection.execute(
        insert(audience_members).from_select(
            ["audience_id", "profile_id"], select(literal(audience), column)
        )
    )
