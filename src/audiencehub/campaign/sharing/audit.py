"""The audit trail of data moving in and out of campaign: who, what, through which source."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, insert, select
from typing_extensions import TypedDict

from audiencehub.campaign.schema import audit_log

__all__ = ["AuditEntry", "current_actor", "import_history", "list_audit", "record"]


class AuditEntry(TypedDict):
    """One entry of the trail: when, who, what, through which data source, and the facts."""

    id: int
    at: datetime
    actor: str
    action: str
    data_source_id: str | None
    details: dict[str, Any]


def current_actor() -> str:
    """The operating-system user running the command (the service's own user for jobs)."""
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"


def record(
    connection: Connection,
    action: str,
    details: dict[str, Any],
    *,
    data_source_id: str | None = None,
    actor: str | None = None,
) -> None:
    """Write one audit entry in the caller's transaction."""
    connection.execute(
        insert(audit_log),
        {
            "at": datetime.now(UTC),
            "actor": actor or current_actor(),
            "action": action,
            "data_source_id": data_source_id,
            "details": details,
        },
    )


def list_audit(
    connection: Connection, limit: int = 100, before: int | None = None
) -> list[AuditEntry]:
    """The newest entries first (those older than the entry ``before``, if given)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    return [cast(AuditEntry, dict(row)) for row in connection.execute(query).mappings()]


def import_history(connection: Connection, audience: str, limit: int = 100) -> list[AuditEntry]:
    """The import reports of one audience, oldest first (its size and match rate over
    time), from the newest ``limit`` import entries of the trail."""
    rows = connection.execute(
        select(audit_log)
        .where(audit_log.c.action == "import")
        .order_by(audit_log.c.id.desc())
        .limit(limit * 10)
    ).mappings()
    mine = [
        cast(AuditEntry, dict(row)) for row in rows if row["details"].get("audience") == audience
    ]
    return list(reversed(mine[:limit]))
