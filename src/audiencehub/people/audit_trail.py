"""The people service's audit trail: who read or erased what it holds about an ID.

A person's access or erasure request has to be accounted for: each lookup and each
erasure writes who made it, when, and (for an erasure) what it deleted. The ID is
kept as the SHA-256 of its data source and itself: asked with the ID, the trail
finds its entries (:func:`id_digest`), yet an erased ID does not live on in it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection
from typing_extensions import TypedDict

from audiencehub.db.audit_trail import list_entries, record_entry
from audiencehub.people.schema import audit_log

__all__ = ["AuditEntry", "id_digest", "list_audit", "record_id_action"]


class AuditEntry(TypedDict):
    """One entry: when, who, what, about which ID (its digest), and its facts."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None  # the ID's digest (:func:`id_digest`)
    details: dict[str, Any]


def id_digest(data_source_id: int, external_id: str) -> str:
    """The digest an ID is kept as in the trail."""
    return hashlib.sha256(f"{int(data_source_id)}:{external_id}".encode()).hexdigest()


def record_id_action(
    connection: Connection,
    action: str,
    data_source_id: int,
    external_id: str,
    *,
    actor: str,
    **facts: Any,
) -> None:
    """Write that ``actor`` did ``action`` to an ID, in the caller's transaction."""
    details = {"data_source_id": data_source_id, **facts}
    subject = id_digest(data_source_id, external_id)
    record_entry(connection, audit_log, action, details, actor=actor, subject=subject)


def list_audit(
    connection: Connection, limit: int = 100, before: int | None = None, subject: str | None = None
) -> list[AuditEntry]:
    """The newest entries first (those older than the entry ``before``, if given; of one
    ID's digest, if ``subject``)."""
    where = None if subject is None else audit_log.c.subject == subject
    entries = list_entries(connection, audit_log, limit, before, where=where)
    return [cast(AuditEntry, entry) for entry in entries]
