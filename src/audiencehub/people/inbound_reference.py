"""An inbound batch's lines read by the reference parser itself
(:func:`~audiencehub.formats.inbound.parse_inbound_row`), into the three tables
:mod:`audiencehub.people.inbound_rows` describes: the lines SQL could not judge as
the reference does, or every line of a file the columnar reader would split
otherwise. They are parsed in Python and added a block at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from audiencehub.engines.session import BatchSession
from audiencehub.errors import InvalidInput
from audiencehub.formats.inbound import parse_inbound_row
from audiencehub.people.trait_index import TraitIndex

__all__ = ["BLOCK_LINES", "add_parsed", "reference_lines"]


def reference_lines(paths: list[Path], per_file: int) -> Iterator[tuple[int, str]]:
    """Every line as the reference reader splits it (universal newlines, CR kept apart),
    keyed by its file's index times ``per_file`` plus its number in the file."""
    for number, path in enumerate(paths):
        with path.open(encoding="utf-8", newline="") as handle:
            for line_number, line in enumerate(handle, start=1):
                yield number * per_file + line_number, line.rstrip("\r\n")


#: lines the reference parser adds to the tables at a time
BLOCK_LINES = 50_000


class _Block:
    """Parsed lines gathered for one insert per table."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str | None, str | None]] = []
        self.refs: list[tuple[int, bool, int | None, bool]] = []
        self.pairs: list[tuple[int, int, str, str, bool]] = []

    def flush(self, session: BatchSession) -> None:
        for name, rows, schema in (
            ("parsed_lines", self.lines, _LINE_SCHEMA),
            ("in_refs", self.refs, _REF_SCHEMA),
            ("in_pairs", self.pairs, _PAIR_SCHEMA),
        ):
            if rows:
                table = pa.table(
                    [pa.array([row[i] for row in rows], f.type) for i, f in enumerate(schema)],
                    schema=schema,
                )
                session.register("parsed_rows", table)
                session.insert(name, "SELECT * FROM parsed_rows")
                session.unregister("parsed_rows")
                rows.clear()


def _schema(columns: Sequence[tuple[str, pa.DataType]]) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in columns])


_LINE_SCHEMA = _schema([("k", pa.int64()), ("user_id", pa.string()), ("error", pa.string())])
_REF_SCHEMA = _schema(
    [
        ("k", pa.int64()),
        ("removal", pa.bool_()),
        ("trait_id", pa.int32()),
        ("foreign_", pa.bool_()),
    ]
)
_PAIR_SCHEMA = _schema(
    [
        ("k", pa.int64()),
        ("pos", pa.int32()),
        ("key", pa.string()),
        ("value", pa.string()),
        ("tested", pa.bool_()),
    ]
)


def add_parsed(session: BatchSession, lines: Iterator[tuple[int, str]], index: TraitIndex) -> None:
    """Parse lines with the reference parser and add them to the three tables."""
    block = _Block()
    for k, line in lines:
        if not line.strip():
            continue
        try:
            row = parse_inbound_row(line)
        except InvalidInput as exc:
            block.lines.append((k, None, exc.message))
        else:
            block.lines.append((k, row.user_id, None))
            for removal, found in ((False, row.realize), (True, row.remove)):
                for ref in found:
                    trait_id, foreign = index.resolve(ref)
                    block.refs.append((k, removal, trait_id, foreign))
            position = 0
            for key, values in row.signals.items():
                for value in values:
                    position += 1
                    block.pairs.append((k, position, key, value, index.tested(key, value)))
        if len(block.lines) >= BLOCK_LINES:
            block.flush(session)
    block.flush(session)
