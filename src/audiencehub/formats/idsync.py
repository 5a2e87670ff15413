"""Rows of ID sync files: tab-separated IDs, the device or visitor ID first.

Each column after the first holds a declared ID of the DPID at that position
in the file name; an empty column means no ID for that source on this row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from audiencehub.errors import InvalidInput

__all__ = ["IdSyncRow", "format_id_sync_row", "parse_id_sync_row"]


@dataclass(frozen=True, slots=True)
class IdSyncRow:
    """A device ID and the declared IDs (or None) of each announced DPID, in order."""

    device_id: str
    declared: tuple[str | None, ...]


def parse_id_sync_row(line: str, columns: int) -> IdSyncRow:
    """Parse a row of a file whose name announces ``columns`` DPIDs.

    "Any rows that end with tabs or spaces will not be processed or realized"
    (Name and Content Requirements for ID Synchronization Files): such a row is
    refused, and counted, even when its last column would otherwise be empty.
    """
    if line.endswith(("\t", " ")):
        raise InvalidInput("the row ends with a tab or a space, so it is not processed")
    parts = line.split("\t")
    if len(parts) != columns + 1:
        raise InvalidInput(f"{len(parts)} columns; the file name announces {columns + 1}")
    if not parts[0]:
        raise InvalidInput("the device ID (first column) is empty")
    return IdSyncRow(parts[0], tuple(part or None for part in parts[1:]))


def format_id_sync_row(device_id: str, declared: Sequence[str | None]) -> str:
    """One row (without newline); its last column must hold an ID, since a row that ends
    with a tab would not be processed."""
    if not device_id or any("\t" in v for v in (device_id, *(d or "" for d in declared))):
        raise InvalidInput("IDs in an ID sync file are non-empty and contain no TAB")
    if declared and not declared[-1]:
        raise InvalidInput(
            "the last column is empty, so the row would end with a tab and not be processed",
            hint="Put the DPID that always has an ID last in the file name.",
        )
    return "\t".join([device_id, *(d or "" for d in declared)])
