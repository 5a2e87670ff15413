"""Processing receipts of inbound batches, and reading a drop object as text lines."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, and_, or_, select
from typing_extensions import TypedDict

from audiencehub.drops import DropLocation, DropObject
from audiencehub.errors import InputFileError
from audiencehub.formats.compression import CORRUPT, gzip_reader
from audiencehub.people.schema import ingested_files

__all__ = ["Receipt", "StoredReceipt", "read_lines", "receipt_page"]

_PROBLEMS_KEPT = 20


@dataclass
class Receipt:
    """The processing receipt of one batch (DOMAIN.md section 6 fields)."""

    batch: str
    files: list[str]
    status: str = "applied"
    records_received: int = 0
    format_errors: int = 0
    invalid_ids: int = 0
    no_matching_id: int = 0
    no_trait_realized: int = 0
    records_processed: int = 0  # every line looked at; as in the reference, = received
    stored_records: int = 0
    total_devices: int = 0  # distinct users (devices or customer IDs) data was stored for
    total_signals: int = 0  # every trait reference and key-value of the processed records
    unused_signals: int = 0  # references naming no trait, key-values realising no rule trait
    realized_traits: int = 0
    removed_traits: int = 0
    traits_failed_validation: int = 0  # d_sid of a trait that is not the target source's
    users_failed_validation: int = 0  # lines (users) that named such a trait
    started_at: str = ""
    ended_at: str = ""
    problems: list[str] = field(default_factory=list)

    def problem(self, line: int, file: str, reason: str) -> None:
        """Keep the first few reasons, with where they were found."""
        if len(self.problems) < _PROBLEMS_KEPT:
            self.problems.append(f"{file} line {line}: {reason}")


# a damaged stream, or the storage failing under it
_UNREADABLE: tuple[type[Exception], ...] = (OSError, *CORRUPT)


def read_lines(drop: DropLocation, obj: DropObject) -> Iterator[str]:
    """The object's lines (gzip by name), refusing non-UTF-8 or broken compression."""
    with drop.open_read(obj.key) as raw:
        binary = gzip_reader(raw) if obj.name.endswith(".gz") else raw
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        try:
            for line in text:
                yield line.rstrip("\r\n")
        except UnicodeDecodeError:
            raise InputFileError(
                f"{obj.key} is not UTF-8 text", hint="Send UTF-8 files only."
            ) from None
        except _UNREADABLE as exc:
            raise InputFileError(f"{obj.key} cannot be decompressed: {exc}") from None


class StoredReceipt(TypedDict):
    """A batch as ingest recorded it: its files, when, and every counter of its receipt."""

    batch: str
    files: list[str]
    processed_at: datetime
    receipt: dict[str, Any]


def receipt_page(
    connection: Connection, after: tuple[str, str] | None, limit: int
) -> list[StoredReceipt]:
    """Receipts newest first; ``after`` is the (processed_at ISO text, batch) of the last one
    of the previous page."""
    table = ingested_files
    query = (
        select(table.c.batch, table.c.files, table.c.processed_at, table.c.receipt)
        .order_by(table.c.processed_at.desc(), table.c.batch.desc())
        .limit(limit)
    )
    if after is not None:
        moment, batch = datetime.fromisoformat(after[0]), after[1]
        query = query.where(
            or_(
                table.c.processed_at < moment,
                and_(table.c.processed_at == moment, table.c.batch < batch),
            )
        )
    return [cast(StoredReceipt, dict(row)) for row in connection.execute(query).mappings()]
