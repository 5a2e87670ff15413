"""Audit trails: who did what, when, with the facts, in each system's own table.

Campaign's trail (``audit_log``) records data moving in and out through shared data
sources; the people service's (``people_audit_log``) who read or erased what it
holds about an ID. Both record who changed their configuration (:func:`change_details`:
what an object was made with, each setting from what to what, or what it was). Each
system owns its table; writing and reading them is here once.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

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

__all__ = [
    "audit_table",
    "change_details",
    "change_summary",
    "current_actor",
    "list_entries",
    "record_change",
    "record_entry",
]

# what a change records of an object: not when it was made, used or sized, which no one sets
_NOT_SETTINGS = frozenset(
    {"created_at", "updated_at", "size", "sized_at", "last_used_at", "last_file_processed"}
)


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


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value``'s settings as JSON holds them (an enum as its value, a date as text)."""
    kept = {k: v for k, v in value.items() if k not in _NOT_SETTINGS}
    return cast(dict[str, Any], json.loads(json.dumps(kept, default=str)))


def change_details(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, **keys: Any
) -> dict[str, Any] | None:
    """The facts of a change to the object named by ``keys``: created (``after`` only),
    what it was made with (``values``); changed (both), each setting that changed as
    ``[before, after]`` (``changed``; None when nothing did); deleted (``before`` only),
    what it was. The objects given must hold no secret: callers pass what they show."""
    details: dict[str, Any] = dict(keys)
    if before is not None and after is not None:
        old, new = _plain(before), _plain(after)
        changed = {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}
        if not changed:
            return None
        details["changed"] = changed
    elif after is not None:
        details["values"] = _plain(after)
    elif before is not None:
        details["values"] = _plain(before)
    return details


def record_change(
    connection: Connection,
    table: Table,
    action: str,
    *,
    actor: str | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    **keys: Any,
) -> None:
    """Write to ``table`` that ``actor`` (None: the operating-system user) created
    (``after`` only), changed (both) or deleted (``before`` only) the object ``keys`` name,
    or did ``action`` to it (neither), in the caller's transaction, so a change and its
    entry are kept or lost together (:func:`change_details`); a change that changed
    nothing is not written. A key that is also a column of ``table`` (campaign's
    ``data_source_id``) fills it too."""
    details = change_details(before, after, **keys)
    if details is not None:
        columns = {k: v for k, v in keys.items() if k in table.c}
        record_entry(connection, table, action, details, actor=actor, **columns)


def change_summary(details: Mapping[str, Any]) -> str:
    """An entry's facts in one line, for a table: the object (with its name, when made or
    deleted) and each setting from what to what; for an object with no key (the one
    connection) what it was made with; for anything else (an import's report) its
    facts."""
    facts = dict(details)
    changed = facts.pop("changed", None)
    values = facts.pop("values", None) or {}
    if not facts:  # nothing names the object: its settings do
        facts, values = values, {}
    named = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in facts.items())
    if values.get("name") or values.get("label"):
        named += f" ({values.get('name') or values.get('label')})"
    if changed:
        named += ": " + "; ".join(f"{k} {old!r} → {new!r}" for k, (old, new) in changed.items())
    return named


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
