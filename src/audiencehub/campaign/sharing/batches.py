"""Outbound batches in a drop: finding them, checking their control file, keeping order.

Files are grouped into batches by name (split files and their ``.info``); a batch
waits until its control file has arrived and the listing matches it, and a
batch older than the last full batch applied for its destination is skipped,
since a full batch replaces everything before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, select

from audiencehub.campaign.schema import processed_batches
from audiencehub.campaign.sharing.audit import record
from audiencehub.drops import DropLocation, DropObject
from audiencehub.errors import InvalidInput
from audiencehub.formats.control import ControlFile, FileEntry
from audiencehub.formats.names import OutboundName, parse_outbound_name

__all__ = ["Batch", "find_batches", "last_full", "precheck", "skip_stale"]


@dataclass
class Batch:
    """One outbound batch in a drop: its name, control file and data files."""

    key: str
    name: OutboundName
    info: DropObject | None = None
    data: dict[str, DropObject] = field(default_factory=dict)


def find_batches(drop: DropLocation, refused: list[str]) -> list[Batch]:
    """The outbound batches of ``drop``, oldest first; a file no batch can own is reported."""
    found: dict[str, Batch] = {}
    for obj in drop.list():
        folder = obj.key[: -len(obj.name)]
        text = obj.name.replace(".info", ".sync") if obj.name.endswith(".info") else obj.name
        try:
            name = parse_outbound_name(text)
        except InvalidInput:
            refused.append(f"{obj.key}: not an outbound file name; left in place")
            continue
        batch = found.setdefault(folder + name.batch, Batch(folder + name.batch, name))
        if obj.name.endswith(".info"):
            batch.info = obj
        else:
            batch.data[obj.name] = obj
    return sorted(found.values(), key=lambda b: (b.name.timestamp_ms, b.key))


def _read(drop: DropLocation, obj: DropObject) -> bytes:
    with drop.open_read(obj.key) as handle:
        return handle.read()


def precheck(drop: DropLocation, batch: Batch) -> tuple[ControlFile | None, list[str]]:
    """The control file, and reasons to wait that the listing alone shows.

    Sizes from the listing are compared first, so an upload still in progress is
    waited for without downloading anything.
    """
    if batch.info is None:
        return None, ["its control file (.info) has not arrived"]
    try:
        control = ControlFile.from_json(_read(drop, batch.info).decode("utf-8"))
    except (InvalidInput, UnicodeDecodeError) as exc:
        return None, [f"its control file is unreadable: {exc}"]
    listed = [
        FileEntry(e.name, batch.data[e.name].size, e.line_count, e.sequence, e.md5)
        for e in control.files
        if e.name in batch.data
    ]
    return control, control.mismatches(listed)


def last_full(connection: Connection) -> dict[int, int]:
    """The time of the newest full batch applied, per destination."""
    rows = connection.execute(
        select(processed_batches.c.destination_id, func.max(processed_batches.c.timestamp_ms))
        .where(processed_batches.c.full.is_(True))
        .group_by(processed_batches.c.destination_id)
    ).tuples()
    return {int(destination): int(stamp) for destination, stamp in rows if destination is not None}


def skip_stale(engine: Engine, batch: Batch, newest: int) -> str:
    """Record a batch older than the last full batch as skipped, and say why.

    A full batch replaces everything sent before it; applying an older batch
    after it would bring back a past membership. It is recorded as processed
    (so it is reported once) and left in the drop.
    """
    reason = (
        f"older ({batch.name.timestamp_ms}) than the full batch of {newest} already applied "
        "for this destination; skipped, nothing changed"
    )
    with engine.begin() as connection:
        connection.execute(
            insert(processed_batches),
            {
                "batch": batch.key,
                "processed_at": datetime.now(UTC),
                "report": {"skipped": reason},
                "destination_id": batch.name.destination_id,
                "timestamp_ms": batch.name.timestamp_ms,
                "full": batch.name.is_full,
            },
        )
        record(connection, "import skipped", {"batch": batch.key, "reason": reason})
    return f"{batch.key}: {reason}"
