"""Audit trails: who did what, when, with the facts, in each system's own table.

Campaign's trail (``audit_log``) records data moving in and out through shared data
sources; the people service's (``people_audit_log``) who read or erased what it
holds about an ID. Each system owns its table; writing and reading them is here once.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    MetaData,
    String,
    Table,
    insert,
    select,
)

from audiencehub.db.types import ID, UTCDateTime

__all__ = ["audit_table", "current_actor", "list_entries", "record_entry"]


def audit_table(name: str, metadata: MetaData, *columns: Column[Any]) -> Table:
    """The audit trail of one system, under ``name``, with its own ``columns``."""
    return Table(
        name,
        metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("at", UTCDateTime, nullable=False),
        Column("actor", String(255), nullable=False),
        Column("action", String(64), nullable=False),
        *columns,
        Column("details", JSON, nullable=False),
    )


def current_actor() -> str:
    """The operating-system user running the command (the service's own user for jobs)."""
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"


def record_entry(
    connection: Connection,
    table: Table,
    action: str,
    details: dict[str, Any],
    *,
    actor: str | None = None,
    **columns: Any,
) -> None:
    """Write one entry in the caller's transaction (``columns``: the table's own ones)."""
    connection.execute(
        insert(table),
        {
            "at": datetime.now(UTC),
            "actor": actor or current_actor(),
            "action": action,
            "details": details,
            **columns,
        },
    )


def list_entries(
    connection: Connection,
    table: Table,
    limit: int = 100,
    before: int | None = None,
    *,
    where: ColumnElement[bool] | None = None,
) -> list[dict[str, Any]]:
    """The newest entries first (those older than the entry ``before``, if given, and
    meeting ``where``)."""
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(table.c.id < before)
    if where is not None:
        query = query.where(where)
    return [dict(row) for row in connection.execute(query).mappings()]
