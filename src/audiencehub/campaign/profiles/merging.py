"""How a file's rows combine with the profiles already stored.

Opt-out and blocklist flags change only on an explicit yes or no; custom
attributes merge by name; an opt-out a person made through an unsubscribe link
stays against a row's "no" unless the import carries renewed consent; and a
row may not take a CRM id that another profile holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from audiencehub.campaign.profiles.fields import BOOLEAN_FIELDS, ColumnMapping, UpsertKey
from audiencehub.campaign.profiles.rows import ProfileChange
from audiencehub.campaign.schema import profiles
from audiencehub.db.value_lists import one_of
from audiencehub.identity.schemes import IdKind

__all__ = ["FLAG_COLUMNS", "UNSUBSCRIBED", "Merger", "crm_ids_taken"]

_KIND_COLUMN = {IdKind.EMAIL.value: "email", IdKind.PHONE.value: "mobile_phone"}
FLAG_COLUMNS = frozenset(flag.value for flag in BOOLEAN_FIELDS)


# The opt-out a person made (the unsubscribe link), by the flag an import may not undo
UNSUBSCRIBED = {"email_opt_out": "email_unsubscribed_at", "sms_opt_out": "sms_unsubscribed_at"}


class Merger:
    """How one file's changes combine with stored profiles (fixed per mapping)."""

    def __init__(self, mapping: ColumnMapping, *, resubscribe: bool = False) -> None:
        self.columns = mapping.value_columns
        self.flags = [i for i, name in enumerate(self.columns) if name in FLAG_COLUMNS]
        self.resubscribe = resubscribe
        self.protected = {i: name for i, name in enumerate(self.columns) if name in UNSUBSCRIBED}
        self.names = mapping.attribute_names
        self.kind_at = {
            kind: self.columns.index(column)
            for kind, column in _KIND_COLUMN.items()
            if column in self.columns
        }

    def values(
        self,
        current: tuple[Any, ...],
        new: tuple[Any, ...],
        unsubscribed: frozenset[str] = frozenset(),
    ) -> tuple[tuple[Any, ...], int]:
        """The merged values, and how many opt-outs a person made were kept against the row."""
        if not self.flags:
            return new, 0
        merged = list(new)
        kept = 0
        for i in self.flags:
            if merged[i] is None:
                merged[i] = current[i]
        for i, name in self.protected.items():
            undo = current[i] is True and merged[i] is False and name in unsubscribed
            if undo and not self.resubscribe:
                merged[i] = True
                kept += 1
        return tuple(merged), kept

    def attributes(self, current: dict[str, Any], new: tuple[str | None, ...]) -> dict[str, Any]:
        merged = dict(current)
        for name, value in zip(self.names, new, strict=True):
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return merged


def crm_ids_taken(
    connection: Connection, mapping: ColumnMapping, changes: Sequence[ProfileChange]
) -> dict[int, str]:
    """Rows that would give a profile a CRM id another profile holds, by line, with why.

    ``crm_id`` is unique: when the file is keyed on another field, a row may name
    a CRM id that belongs to someone else (or to an earlier row of the file). Such
    a row is rejected with that reason instead of failing the whole import.
    """
    columns = mapping.value_columns
    if mapping.key is UpsertKey.CRM_ID or "crm_id" not in columns:
        return {}
    at = columns.index("crm_id")
    wanted = sorted({str(c.values[at]) for c in changes if c.values[at]})
    if not wanted:
        return {}
    key_column = profiles.c[mapping.key.column]
    held = connection.execute(
        select(profiles.c.crm_id, key_column).where(one_of(connection, profiles.c.crm_id, wanted))
    )
    holders: dict[str, str | None] = dict(held.tuples().all())
    problems: dict[int, str] = {}
    for change in changes:
        crm_id = change.values[at]
        if not isinstance(crm_id, str) or not crm_id:
            continue
        if crm_id not in holders:
            holders[crm_id] = change.key  # the file's first claim holds it
        if holders[crm_id] != change.key:
            problems[change.line] = (
                f"crm_id: {crm_id!r} belongs to another profile; "
                "a CRM id identifies one profile only"
            )
    return problems
