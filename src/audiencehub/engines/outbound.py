"""Outbound batches (people -> campaign) as a DuckDB relation of lines.

Staged files with plain lines (valid UTF-8, no CR, no U+0001: see
:class:`~audiencehub.drops.staging.StagedBatch`) are read by DuckDB's parallel
CSV reader, one column per line, and checked against the format's grammar in
SQL. The relation is a view: each query over it streams the files again (0.4 s
for 10 M lines) instead of holding 10 M IDs in memory. Any other batch goes
through the reference parser line by line: slower, but the same answers, which
a differential test holds; there a line that is not UTF-8 is one format error.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from audiencehub.drops.staging import StagedBatch
from audiencehub.engines.session import BatchSession, sql_text
from audiencehub.errors import InvalidInput
from audiencehub.formats.outbound import BLANK, SEGMENT_LIST, is_blank, parse_outbound_row

__all__ = ["LINES", "open_lines"]

#: the relation :func:`open_lines` creates: one row per non-blank line, with
#: ``id``, ``segments`` and ``removed`` (text, comma-separated, empty when none)
#: and ``ok``, false for a line that breaks the grammar (its fields are then
#: meaningless)
LINES = "outbound_lines"


def _columnar(session: BatchSession, paths: list[str]) -> None:
    sql = session.dialect
    segment_list = sql_text(SEGMENT_LIST)
    tab = sql.tab
    # a blank line is empty or starts with blank characters: only those need the pattern
    session.create_view(
        LINES,
        f"""
        SELECT id, segments, removed,
               id <> '' AND fields <= 3
               AND (segments = '' OR {sql.full_match("segments", segment_list)})
               AND (removed = '' OR {sql.full_match("removed", segment_list)}) AS ok
        FROM (
            SELECT {sql.item("parts", 1)} AS id, coalesce({sql.item("parts", 2)}, '') AS segments,
                   coalesce({sql.item("parts", 3)}, '') AS removed, {sql.size("parts")} AS fields
            FROM (
                SELECT {
            sql.split(
                f"CASE WHEN contains(line, {tab}) THEN replace(line, {tab}, ' ') ELSE line END", " "
            )
        } AS parts
                FROM {session.text_lines(paths)}
                WHERE line IS NOT NULL AND line <> ''
                      AND (left(line, 1) NOT IN (' ', {tab}, {sql.cr})
                           OR NOT {sql.full_match("line", sql_text(BLANK))})
            )
        )
        """,
    )


def _by_line(session: BatchSession, paths: list[Path]) -> None:
    columns: dict[str, list[str | bool]] = {"id": [], "segments": [], "removed": [], "ok": []}

    def add(user_id: str, segments: str, removed: str, ok: bool) -> None:
        values: tuple[str | bool, ...] = (user_id, segments, removed, ok)
        for name, value in zip(columns, values, strict=True):
            columns[name].append(value)

    for path in paths:
        with path.open("rb") as handle:
            for raw in handle:
                try:
                    line = raw.rstrip(b"\n").decode("utf-8")
                except UnicodeDecodeError:
                    add("", "", "", False)
                    continue
                if is_blank(line):
                    continue
                try:
                    row = parse_outbound_row(line.rstrip("\r"))
                except InvalidInput:
                    add("", "", "", False)
                    continue
                add(
                    row.user_id,
                    ",".join(map(str, row.segments)),
                    ",".join(map(str, row.removed)),
                    True,
                )
    table = pa.table(
        {
            name: pa.array(values, pa.bool_() if name == "ok" else pa.string())
            for name, values in columns.items()
        }
    )
    session.register("by_line", table)
    session.create_table(LINES, "SELECT * FROM by_line")
    session.unregister("by_line")


def open_lines(session: BatchSession, staged: StagedBatch) -> None:
    """Create :data:`LINES` over a staged batch."""
    if staged.plain_lines:
        _columnar(session, [str(path) for path in staged.paths])
    else:
        _by_line(session, list(staged.paths))
