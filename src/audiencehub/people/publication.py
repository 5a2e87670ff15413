"""Publication: outbound batches for campaign's destinations, full then iter.

The first publication to a destination (or a forced one) is a *full* batch of
every current member; later ones are *iter* batches of the adds and removals
since the last publication. Files are gzip, split at the destination's row
count, and the ``.info`` control file is written last, so a reader that sees it
knows every data file is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Select,
    delete,
    insert,
    literal,
    select,
    union_all,
    update,
)

from audiencehub.db.value_lists import value_list
from audiencehub.drops import open_drop
from audiencehub.engines import extract, open_session
from audiencehub.errors import ConfigurationError
from audiencehub.files import scratch_folder
from audiencehub.formats.control import ControlFile, FileEntry, LineWriter
from audiencehub.formats.names import OutboundName
from audiencehub.people.data_sources import DEVICE_NAMESPACE
from audiencehub.people.destinations import Destination, check_controls, get_destination
from audiencehub.people.schema import destinations, published, segments
from audiencehub.people.segment_rules import parse_rule
from audiencehub.people.segments import MergeRule, members_query

__all__ = ["Publication", "publish"]

_BLOCK_ROWS = 10_000  # lines handed to gzip at a time


@dataclass
class Publication:
    """What one publication to one destination wrote."""

    destination_id: int
    full: bool
    batch: str | None
    files: list[str] = field(default_factory=list)
    rows: int = 0
    added: int = 0
    removed: int = 0


def _current(connection: Connection, destination: Destination) -> Select[Any] | None:
    """The destination's ``(member, segment_id)`` rows now, or None when it carries no segment."""
    declared = destination["id_type"] == "declared"
    namespace = destination["data_source_id"] if declared else DEVICE_NAMESPACE
    blocked = [DEVICE_NAMESPACE] + ([namespace] if namespace else [])
    parts: list[Select[Any]] = []
    for segment_id in destination["segments"]:
        segment = (
            connection.execute(select(segments).where(segments.c.id == segment_id)).mappings().one()
        )
        check_controls(connection, segment_id, destination["export_labels"])
        # declared-ID destinations use the last authenticated profile, whatever the segment says
        merge = MergeRule.LAST_AUTHENTICATED if declared else MergeRule(segment["merge_rule"])
        members = members_query(
            parse_rule(segment["rule"]), merge, namespace=namespace, opted_out_of=blocked
        ).subquery()
        parts.append(
            select(
                members.c.external_id.label("member"),
                literal(segment_id, Integer).label("segment_id"),
            )
        )
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else select(union_all(*parts).subquery())


def _previous(destination_id: int) -> Select[Any]:
    """What the destination holds since its last publication (segment 0 is a marker)."""
    return select(published.c.member, published.c.segment_id).where(
        published.c.destination_id == destination_id, published.c.segment_id != 0
    )


_EMPTY = pa.table({"member": pa.array([], pa.string()), "segment_id": pa.array([], pa.int64())})

# The batch's lines, in member order, each with its newline: a member with the
# segments it joins and those it leaves, as formats.outbound.format_outbound_row
# writes them (the publication tests parse them back with its reader).
# (Lists sorted after grouping: ordered aggregates cost three times as much.)
_LINES = """
SELECT member
       || ' ' || coalesce(array_to_string(list_sort(list(segment_id) FILTER (joined)), ','), '')
       || ' ' || coalesce(array_to_string(list_sort(list(segment_id) FILTER (NOT joined)), ','), '')
       || chr(10) AS line
FROM changes GROUP BY member ORDER BY member
"""


def _lock(connection: Connection, destination_id: int) -> None:
    """Take the destination's row for this transaction: one publication at a time per destination.

    (On SQLite any write takes the database's write lock; on PostgreSQL the row lock.)
    """
    connection.execute(
        update(destinations).where(destinations.c.id == destination_id).values(id=destinations.c.id)
    )


def publish(
    engine: Engine,
    destination_id: int,
    *,
    force_full: bool = False,
    now_ms: int | None = None,
    endpoint_url: str | None = None,
    scratch: Path | None = None,
) -> Publication:
    """Write the destination's next batch and remember what it now holds.

    The current members and what was published last are read as Arrow tables
    (:func:`~audiencehub.engines.extract`) and compared in DuckDB, which also
    writes the lines in member order; only the differences go back into the
    published state. Memory stays bounded: DuckDB spills to ``scratch`` (a
    temporary folder by default). ``endpoint_url`` reaches an S3-compatible
    store (else ``AWS_ENDPOINT_URL``).
    """
    with engine.begin() as connection:
        _lock(connection, destination_id)
        destination = get_destination(connection, destination_id)
        current = _current(connection, destination)
        marked = _has_published(connection, destination_id)
        full = force_full or not marked
        with (
            scratch_folder(scratch, "publish") as folder,
            open_session(Path(folder)) as session,
        ):
            session.register("now_rows", _EMPTY if current is None else extract(engine, current))
            session.register("before_rows", extract(engine, _previous(destination_id)))
            session.execute(
                "CREATE TEMP TABLE joined AS SELECT member, segment_id FROM now_rows "
                "EXCEPT SELECT member, segment_id FROM before_rows"
            )
            session.execute(
                "CREATE TEMP TABLE left_rows AS SELECT member, segment_id FROM before_rows "
                "EXCEPT SELECT member, segment_id FROM now_rows"
            )
            changes = (
                "SELECT member, segment_id, true AS joined FROM now_rows"
                if full
                else "SELECT member, segment_id, true AS joined FROM joined "
                "UNION ALL SELECT member, segment_id, false FROM left_rows"
            )
            session.execute(f"CREATE TEMP VIEW changes AS {changes}")
            result = Publication(
                destination_id,
                full,
                None,
                added=_size(session, "joined"),
                removed=_size(session, "left_rows"),
            )
            writer = _BatchWriter(destination, full, now_ms, endpoint_url)
            for block in session.sql(_LINES).to_arrow_reader(_BLOCK_ROWS):
                writer.add_block(block.column(0))
            result.rows = writer.rows
            result.batch, result.files = writer.close()
            _record(connection, session, destination_id, marked=marked)
    return result


def _size(session: duckdb.DuckDBPyConnection, table: str) -> int:
    [(count,)] = session.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(count)


def _record(
    connection: Connection, session: duckdb.DuckDBPyConnection, destination_id: int, *, marked: bool
) -> None:
    """Bring the published state up to date with the differences only, segment by segment."""
    for table, joined in (("left_rows", False), ("joined", True)):
        grouped = (
            # in key order: the B-tree is appended to, not split all over (5 M rows: 20 s -> 14 s)
            session.sql(
                f"SELECT segment_id, list(member ORDER BY member) FROM {table} GROUP BY segment_id"
            )
            .to_arrow_table()
            .combine_chunks()
        )
        if not grouped.num_rows:
            continue
        lists = grouped.column(1).chunk(0)
        for index, segment_id in enumerate(grouped.column(0).to_pylist()):
            values = value_list(connection, lists[index].values)
            if joined:
                connection.execute(
                    insert(published).from_select(
                        ["destination_id", "segment_id", "member"],
                        select(
                            literal(destination_id, Integer),
                            literal(segment_id, Integer),
                            values.subquery().c.value,
                        ),
                    )
                )
            else:
                connection.execute(
                    delete(published).where(
                        published.c.destination_id == destination_id,
                        published.c.segment_id == segment_id,
                        published.c.member.in_(values),
                    )
                )
    if not marked:
        connection.execute(
            insert(published), {"destination_id": destination_id, "segment_id": 0, "member": ""}
        )


def _has_published(connection: Connection, destination_id: int) -> bool:
    """A marker row (segment 0) records that a destination has had its full batch."""
    marker = select(published.c.member).where(
        published.c.destination_id == destination_id, published.c.segment_id == 0
    )
    return connection.execute(marker).first() is not None


class _BatchWriter:
    """Streams outbound rows into split gzip files, then writes the ``.info`` last.

    Nothing is written for an iter batch without rows; a full batch is always
    written, even empty, since it tells the reader that nobody is in.
    """

    def __init__(
        self, destination: Destination, full: bool, now_ms: int | None, endpoint_url: str | None
    ) -> None:
        self.drop = open_drop(destination["drop_url"], endpoint_url=endpoint_url)
        stamp = now_ms if now_ms is not None else int(time.time() * 1000)
        master = (
            DEVICE_NAMESPACE
            if destination["id_type"] == "visitor"
            else destination["data_source_id"]
        )
        if master is None:
            raise ConfigurationError(
                f"destination {destination['id']} sends declared IDs but names no data source",
                hint="Recreate it with --datasource DPID, the data source whose IDs it sends.",
            )
        self.base = OutboundName(stamp, None, destination["id"], master, destination["alias"], full)
        self.folder = f"date={datetime.fromtimestamp(stamp / 1000, UTC):%Y-%m-%d}/"
        self.split, self.full = int(destination["split_rows"]), full
        self.rows = 0
        self.entries: list[FileEntry] = []
        self._file: contextlib.ExitStack | None = None
        self._writer: LineWriter | None = None

    def add_block(self, lines: pa.Array) -> None:
        """Add lines formatted by the publication's SQL (newlines included), splitting
        files at the destination's row count; no Python object is made per line."""
        while len(lines):
            writer = self._writer
            if writer is None or writer.lines >= self.split:
                writer = self._rotate()
            part = lines.slice(0, self.split - writer.lines)
            whole = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(part)]), part), "")
            writer.write_text(whole[0].as_py().encode("utf-8"), len(part))
            self.rows += len(part)
            lines = lines.slice(len(part))

    def _rotate(self) -> LineWriter:
        self._finish_file()
        # the first file carries no split number, the next ones 001, 002... (the reference's
        # "The original file will not have any split number. The first split file will end
        # with 001.")
        name = dataclasses.replace(self.base, split=len(self.entries) or None)
        self._file = contextlib.ExitStack()
        sink = self._file.enter_context(self.drop.open_write(self.folder + str(name)))
        # FileSequenceNumber counts from 1, as the reference's transfer-control example does
        self._writer = LineWriter(sink, str(name), len(self.entries) + 1, compress=True)
        return self._writer

    def _finish_file(self) -> None:
        if self._writer is None or self._file is None:
            return
        self.entries.append(self._writer.close())
        self._file.close()
        self._writer = self._file = None

    def close(self) -> tuple[str | None, list[str]]:
        """Finish the data files and write the control file; (batch, files written)."""
        if self._writer is None and self.full:
            self._rotate()
        self._finish_file()
        if not self.entries:
            return None, []
        # Totals name the batch as the reference's example does: its root, ".sync"
        control = ControlFile(f"{self.base.batch}.sync", tuple(self.entries))
        with self.drop.open_write(self.folder + self.base.info_name) as sink:
            sink.write(control.to_json().encode("utf-8"))
        names = [self.folder + entry.name for entry in self.entries]
        return self.folder + self.base.batch, [*names, self.folder + self.base.info_name]
