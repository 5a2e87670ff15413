"""The people service's audit trail: who read or erased what it holds about an ID, and
who changed what decides where its data goes.

A person's access or erasure request has to be accounted for: each lookup and each
erasure writes who made it, when, and (for an erasure) what it deleted. The ID is
kept as the SHA-256 of its data source and itself: asked with the ID, the trail
finds its entries (:func:`id_digest`), yet an erased ID does not live on in it.

So does each change to the configuration (:func:`record_change`): a segment's rule
says whose data a destination receives, a destination's segments and labels where it
goes, a data source's export controls what may leave, a client who may read or
change any of it. Each is written in the change's own transaction, so a change and
its entry are kept or lost together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection
from typing_extensions import TypedDict

from audiencehub.db.audit_trail import list_entries, record_entry
from audiencehub.people.schema import audit_log

__all__ = [
    "AuditEntry",
    "AuditKind",
    "id_digest",
    "list_audit",
    "record_change",
    "record_id_action",
    "summary",
]

#: which entries: those about IDs (lookups, erasures) or changes to the configuration
AuditKind = Literal["ids", "changes"]

# what a change records of an object: not when it was made or sized, which no one sets
_NOT_SETTINGS = frozenset({"created_at", "updated_at", "size", "sized_at"})


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


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value``'s settings as JSON holds them (an enum as its value, a date as text)."""
    kept = {k: v for k, v in value.items() if k not in _NOT_SETTINGS}
    return cast(dict[str, Any], json.loads(json.dumps(kept, default=str)))


def record_change(
    connection: Connection,
    action: str,
    *,
    actor: str | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    **keys: Any,
) -> None:
    """Write that ``actor`` (None: the operating-system user) created (``after`` only),
    changed (both) or deleted (``before`` only) an object named by ``keys``, in the
    caller's transaction: what it was made, each setting that changed from what to what,
    or what it was. A change that changed nothing is not written."""
    details: dict[str, Any] = dict(keys)
    if before is not None and after is not None:
        old, new = _plain(before), _plain(after)
        changed = {k: [old.get(k), v] for k, v in new.items() if old.get(k) != v}
        if not changed:
            return
        details["changed"] = changed
    elif after is not None:
        details["values"] = _plain(after)
    elif before is not None:
        details["values"] = _plain(before)
    record_entry(connection, audit_log, action, details, actor=actor)


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
        about_ids = audit_log.c.subject.is_not(None)
        of_kind = about_ids if kind == "ids" else audit_log.c.subject.is_(None)
        where = of_kind if where is None else where & of_kind
    entries = list_entries(connection, audit_log, limit, before, where=where)
    return [cast(AuditEntry, entry) for entry in entries]


def summary(entry: AuditEntry) -> str:
    """An entry's facts in one line, for a table: the ID's digest and data source, or the
    object (with its name, when made or deleted) and each setting from what to what."""
    details: dict[str, Any] = dict(entry["details"])
    if entry["subject"]:
        return f"ID {entry['subject'][:16]}… of data source {details.get('data_source_id')}"
    changed = details.pop("changed", None)
    values = details.pop("values", None) or {}
    named = ", ".join(f"{k.removesuffix('_id').replace('_', ' ')} {v}" for k, v in details.items())
    if values.get("name"):
        named += f" ({values['name']})"
    if changed:
        named += ": " + "; ".join(f"{k} {old!r} → {new!r}" for k, (old, new) in changed.items())
    return named
