"""The people service's audit trail: who read or erased what it holds about an ID, and
who changed what decides where its data goes.

A person's access or erasure request has to be accounted for: each lookup and each
erasure writes who made it, when, and (for an erasure) what it deleted. The ID is
kept as the SHA-256 of its data source and itself: asked with the ID, the trail
finds its entries (:func:`id_digest`), yet an erased ID does not live on in it.

So does each change to the configuration
(:func:`~audiencehub.db.audit_trail.record_change`): a segment's rule
says whose data a destination receives, a destination's segments and labels where it
goes, a data source's export controls what may leave, a client who may read or
change any of it. Each is written in the change's own transaction, so a change and
its entry are kept or lost together.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection
from typing_extensions import TypedDict

from audiencehub.db.audit_trail import change_summary, list_entries, record_entry
from audiencehub.people.schema import audit_log
from audiencehub.sign_ins import SIGN_IN_ACTIONS

__all__ = [
    "AuditEntry",
    "AuditKind",
    "id_digest",
    "list_audit",
    "record_id_action",
    "summary",
]

#: which entries: those about IDs (lookups, erasures), changes to the configuration, or
#: sign-ins (:mod:`audiencehub.sign_ins`: pages and tokens, signed in or refused)
AuditKind = Literal["ids", "changes", "sign-ins"]


class AuditEntry(TypedDict):
    """One entry: when, who, what, about which ID (its digest), and its facts."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None  # the ID's digest (:func:`id_digest`); None for a change
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
    connection: Connection,
    limit: int = 100,
    before: int | None = None,
    subject: str | None = None,
    kind: AuditKind | None = None,
) -> list[AuditEntry]:
    """The newest entries first (those older than the entry ``before``, if given; of one
    ID's digest, if ``subject``; of one ``kind``, if given)."""
    where = None if subject is None else audit_log.c.subject == subject
    if kind is not None:
        sign_ins = audit_log.c.action.in_(SIGN_IN_ACTIONS)
        of_kind = {
            "ids": audit_log.c.subject.is_not(None),
            "changes": audit_log.c.subject.is_(None) & ~sign_ins,
            "sign-ins": sign_ins,
        }[kind]
        where = of_kind if where is None else where & of_kind
    entries = list_entries(connection, audit_log, limit, before, where=where)
    return [cast(AuditEntry, entry) for entry in entries]


def summary(entry: AuditEntry) -> str:
    """An entry's facts in one line, for a table: the ID's digest and data source, or the
    object changed (:func:`~audiencehub.db.audit_trail.change_summary`)."""
    if entry["subject"]:
        source = entry["details"].get("data_source_id")
        return f"ID {entry['subject'][:16]}… of data source {source}"
    return change_summary(entry["details"])
