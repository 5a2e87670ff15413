"""How a file's rows combine with the profiles already stored.

Opt-out and blocklist flags change only on an explicit yes or no; custom
attributes merge by name; an opt-out a person made through an unsubscribe link
stays against a row's "no" unless the import carries renewed consent; and a
row may not take a CRM id that belongs to another profile (:class:`CrmClaims`).
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

__all__ = ["FLAG_COLUMNS", "UNSUBSCRIBED", "CrmClaims", "Merger"]

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


class CrmClaims:
    """Who each CRM id a file names belongs to, for the whole import.

    ``crm_id`` is unique: when the file is keyed on another field, a row may name a
    CRM id that belongs to someone else. It belongs to the profile that held it when
    the import began, or else to the first row that takes it; a row naming it for
    another profile is rejected with that reason instead of failing the whole import.

    The import applies its rows a chunk at a time and reads, at the start of each,
    who holds the CRM ids the chunk names. The rows are then taken in file order: a
    row rejected for any reason takes nothing, and a CRM id a row gives up stays with
    its profile to the end of the import (the store shows it free by the next chunk).
    So where the chunks are cut changes nothing.
    """

    def __init__(self, mapping: ColumnMapping) -> None:
        columns = mapping.value_columns
        self.key_column = profiles.c[mapping.key.column]
        self.at = (
            columns.index("crm_id")
            if mapping.key is not UpsertKey.CRM_ID and "crm_id" in columns
            else None
        )
        self._given_up: dict[str, str] = {}  # CRM id -> the key of the profile it is kept for
        self._holders: dict[str, str | None] = {}  # this chunk's CRM ids, by holder's key

    def read(self, connection: Connection, changes: Sequence[ProfileChange]) -> None:
        """Read who holds the CRM ids a chunk of rows names."""
        at = self.at
        self._holders = {}
        if at is None:
            return
        wanted = sorted({str(c.values[at]) for c in changes if c.values[at]})
        if not wanted:
            return
        held = connection.execute(
            select(profiles.c.crm_id, self.key_column).where(
                one_of(connection, profiles.c.crm_id, wanted)
            )
        )
        self._holders = dict(held.tuples().all())
        for crm_id in wanted:
            if crm_id in self._given_up:
                self._holders.setdefault(crm_id, self._given_up[crm_id])

    def refused(self, change: ProfileChange) -> str | None:
        """Why the row may not have its CRM id (it belongs to another profile), if so."""
        crm_id = self.crm_id(change.values)
        if not crm_id or self._holders.get(str(crm_id), change.key) == change.key:
            return None
        return (
            f"crm_id: {crm_id!r} belongs to another profile; a CRM id identifies one profile only"
        )

    def crm_id(self, values: tuple[Any, ...]) -> Any:
        """The CRM id among a row's or a profile's values, if the file maps one."""
        return values[self.at] if self.at is not None else None

    def taken(self, key: str, before: Any, after: Any) -> None:
        """The profile of ``key`` goes from CRM id ``before`` (``None``: none, or a new
        profile) to ``after``, and takes it; the one it had, if another, stays its own
        to the end of the import."""
        if after:
            self._holders[str(after)] = key
        if before and before != after:
            self._given_up.setdefault(str(before), key)
