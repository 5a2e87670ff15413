"""Campaign's audit trail: data moving in and out (who, what, through which source), changes
to users, tokens and sharing, and sign-ins (:mod:`audiencehub.sign_ins`).

Sign-ins name the addresses people sign in from: the pages and the API show them to
admins only (``sign_ins=False`` leaves them out for everyone else).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, select
from typing_extensions import TypedDict

from audiencehub.campaign.schema import audit_log
from audiencehub.db.audit_trail import current_actor, list_entries, record_entry
from audiencehub.sign_ins import SIGN_IN_ACTIONS

__all__ = ["AuditEntry", "current_actor", "import_history", "list_audit", "record"]


class AuditEntry(TypedDict):
    """One entry of the trail: when, who, what, through which data source, and the facts."""

    id: int
    at: datetime
    actor: str
    action: str
    data_source_id: str | None
    details: dict[str, Any]


def record(
    connection: Connection,
    action: str,
    details: dict[str, Any],
    *,
    data_source_id: str | None = None,
    actor: str | None = None,
) -> None:
    """Write one audit entry in the caller's transaction."""
    record_entry(connection, audit_log, action, details, actor=actor, data_source_id=data_source_id)


def list_audit(
    connection: Connection, limit: int = 100, before: int | None = None, *, sign_ins: bool = True
) -> list[AuditEntry]:
    """The newest entries first (those older than the entry ``before``, if given; without
    the sign-ins unless ``sign_ins``)."""
    where = None if sign_ins else audit_log.c.action.not_in(SIGN_IN_ACTIONS)
    entries = list_entries(connection, audit_log, limit, before, where=where)
    return [cast(AuditEntry, entry) for entry in entries]


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
