"""DuckDB sessions for one batch: in memory, bounded, spilling to a scratch folder.

A batch query that can also run on Spark takes a :class:`BatchSession`: the
few operations both engines offer (run a query, keep its result as a table,
name an Arrow table), with the :class:`~audiencehub.engines.dialect.Dialect`
to spell its SQL in. :class:`DuckBatch` is DuckDB's; Spark's is in
:mod:`audiencehub.engines.spark`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from audiencehub.engines.bulk_settings import DEFAULT_MEMORY_LIMIT
from audiencehub.engines.dialect import DUCKDB, Dialect

__all__ = [
    "BatchSession",
    "DuckBatch",
    "copy_table",
    "create_in_parts",
    "memory_bytes",
    "open_session",
    "part_of",
    "parts_for",
    "sql_in",
    "sql_text",
    "streamed",
    "user_parts",
]


class BatchSession(Protocol):
    """What a batch query needs of its engine."""

    @property
    def dialect(self) -> Dialect:
        """How this engine spells the functions that differ."""
        ...

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """Run ``query`` and return its (small) result."""
        ...

    def create_table(self, name: str, query: str) -> None:
        """Keep the result of ``query`` as the temporary table ``name``."""
        ...

    def create_view(self, name: str, query: str) -> None:
        """Name ``query``: each use of ``name`` runs it again."""
        ...

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as ``name``."""
        ...

    def keep(self, name: str, table: pa.Table) -> None:
        """Copy an Arrow table into the engine's own storage as the table ``name``
        (replacing it), so that later queries do not read Python memory."""
        ...

    def insert(self, name: str, query: str) -> None:
        """Add the rows of ``query`` to the table ``name``."""
        ...

    def stream(self, query: str, rows: int) -> Iterator[pa.RecordBatch]:
        """The result of ``query``, in its order, in batches of at most ``rows``. Run no
        other statement on the session until it is read: DuckDB ends a connection's
        pending result at its next statement (:class:`DuckBatch` refuses to)."""
        ...

    def drop(self, name: str) -> None:
        """Drop the table or view ``name`` (an unknown name is ignored), with what
        :meth:`numbered_lines` kept for it."""
        ...

    def numbered_lines(
        self,
        name: str,
        files: Sequence[Path],
        per_file: int,
        stages: Sequence[str] = (),
    ) -> None:
        """Name the lines of ``files`` (plain UTF-8 text, split at LF only) as
        ``name(k, line)``: ``k`` is the file's index times ``per_file`` plus the line's
        number in it (from 1); an empty line is NULL. The caller inflates and checks a
        compressed file whole first: DuckDB reads a damaged gzip stream up to the damage
        without an error.

        ``stages`` are SQL column lists applied to every line in turn, each over the
        columns of the one before (the first over ``line``); ``name`` then has ``k`` and
        the last stage's columns. The engine keeps what they make, not the line: a
        batch's lines are read once and not held twice. A stage must neither filter
        nor aggregate (one row out per line in)."""
        ...

    def drop_column(self, name: str, column: str) -> None:
        """Free ``column`` of the lines :meth:`numbered_lines` named ``name``, once nothing
        reads it any more (a view that names it must be made again first)."""
        ...

    def as_duckdb(self, name: str) -> str:
        """SQL naming the table ``name`` as DuckDB, the lake's one writer, reads it."""
        ...

    def unregister(self, name: str) -> None:
        """Forget a name :meth:`register` gave (an unknown name is ignored)."""
        ...

    def text_lines(self, paths: list[str]) -> str:
        """A relation of the lines of ``paths``, one text column ``line``, no separator."""
        ...

    def read_parquet(self, name: str, path: Path) -> None:
        """Name the Parquet file ``path``, read by the engine itself when used."""
        ...


class DuckBatch:
    """A DuckDB connection as a :class:`BatchSession`."""

    dialect = DUCKDB

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self._streaming = False
        self._numbered: dict[str, str] = {}  # the query of each numbered_lines view

    def _idle(self) -> duckdb.DuckDBPyConnection:
        """The connection, unless a :meth:`stream` is being read: a statement would end
        that stream early, and its reader would take the rows it had for all of them."""
        if self._streaming:
            raise RuntimeError("a statement ran while a stream of this session was being read")
        return self.connection

    def _execute(
        self, query: str, parameters: list[Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Run a statement on the connection (see :meth:`_idle`)."""
        return self._idle().execute(query, parameters)

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """Run ``query`` and return its (small) result."""
        return self._execute(query).fetchall()

    def create_table(self, name: str, query: str) -> None:
        """Keep the result of ``query`` as the temporary table ``name``."""
        self._execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")

    def create_view(self, name: str, query: str) -> None:
        """Name ``query``: each use of ``name`` runs it again."""
        self._execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {query}")

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as ``name`` (read in place, not copied)."""
        self._idle().register(name, table)

    def unregister(self, name: str) -> None:
        """Forget a name :meth:`register` gave (an unknown name is ignored)."""
        self._idle().unregister(name)

    def keep(self, name: str, table: pa.Table) -> None:
        """Copy an Arrow table into the temporary table ``name`` (replacing it)."""
        self._execute(f"DROP TABLE IF EXISTS {name}")
        copy_table(self._idle(), name, table)

    def insert(self, name: str, query: str) -> None:
        """Add the rows of ``query`` to the table ``name``."""
        self._execute(f"INSERT INTO {name} {query}")

    def stream(self, query: str, rows: int) -> Iterator[pa.RecordBatch]:
        """The result of ``query``, in its order, in batches of at most ``rows`` (no
        statement may run on the session until it is read or closed)."""
        reader = self._execute(query).to_arrow_reader(rows)
        self._streaming = True
        try:
            yield from reader
        finally:
            self._streaming = False

    def drop(self, name: str) -> None:
        """Drop the temporary table or view ``name`` (an unknown name is ignored), and the
        lines :meth:`numbered_lines` kept for it. Each is dropped by name, a table first:
        listing the temporary objects lists the lake's tables too, which cost a job's
        dozens of drops half a second."""
        self._execute(f"DROP TABLE IF EXISTS temp.main.{name}_raw")
        self._numbered.pop(name, None)
        try:
            self._execute(f"DROP TABLE IF EXISTS temp.main.{name}")
        except duckdb.CatalogException:  # a view (a bind error: a transaction goes on)
            self._execute(f"DROP VIEW temp.main.{name}")

    def numbered_lines(
        self,
        name: str,
        files: Sequence[Path],
        per_file: int,
        stages: Sequence[str] = (),
    ) -> None:
        """Name the lines of ``files`` as ``name(k, line)``, or what ``stages`` make of them
        (DuckDB's parallel CSV reader, one column; rows keep the files' order, so a row's
        id numbers its line). The view reads the rows kept in the table ``{name}_raw``;
        :meth:`drop` removes both."""
        raw = f"{name}_raw"
        starts = []
        # A session that may reorder rows (open_session's) stores a file's blocks as its
        # threads finish them: the row ids would not be the line numbers.
        setting = "SELECT current_setting('preserve_insertion_order')"
        [(ordered,)] = self._execute(setting).fetchall()
        if not ordered:
            self._execute("SET preserve_insertion_order = true")
        try:
            for number, path in enumerate(files):
                query = (
                    f"SELECT {number} AS f, line FROM read_csv({sql_text(str(path))}, "
                    "columns = {'line': 'VARCHAR'}, delim = '\x01', quote = '', escape = '', "
                    "header = false, auto_detect = false, new_line = '\\n', "
                    "compression = 'none')"
                )
                for stage in stages:
                    query = f"SELECT f, {stage} FROM ({query}) s"
                if number == 0:
                    starts.append(0)
                    self._execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS {query}")
                else:
                    [(count,)] = self._execute(f"SELECT count(*) FROM {raw}").fetchall()
                    starts.append(int(count))
                    self._execute(f"INSERT INTO {raw} {query}")
        finally:
            if not ordered:
                self._execute("SET preserve_insertion_order = false")
        start = "CASE f " + " ".join(f"WHEN {i} THEN {s}" for i, s in enumerate(starts)) + " END"
        self._numbered[name] = (
            f"SELECT f * {int(per_file)} + rowid - ({start}) + 1 AS k, * EXCLUDE (f) FROM {raw}"
        )
        self.create_view(name, self._numbered[name])

    def drop_column(self, name: str, column: str) -> None:
        """Free ``column`` of the lines kept for ``name`` (their table's memory, at once),
        and name the rest again (a view keeps the columns it was made with)."""
        self._execute(f"ALTER TABLE temp.main.{name}_raw DROP COLUMN {column}")
        self.create_view(name, self._numbered[name])

    def as_duckdb(self, name: str) -> str:
        """The table ``name`` itself: this session is DuckDB's."""
        return name

    def read_parquet(self, name: str, path: Path) -> None:
        """Name the Parquet file ``path``, read by the engine itself when used."""
        self.create_view(name, f"SELECT * FROM read_parquet({sql_text(str(path))})")

    def text_lines(self, paths: list[str]) -> str:
        """A relation of the lines of ``paths`` (DuckDB's parallel CSV reader, one column)."""
        files = "[" + ", ".join(sql_text(path) for path in paths) + "]"
        return (
            f"read_csv({files}, columns = {{'line': 'VARCHAR'}}, delim = '\x01', "
            "quote = '', escape = '', header = false, auto_detect = false)"
        )


def open_session(
    scratch: Path, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB using every core, spilling to ``scratch`` beyond ``memory_limit``."""
    return duckdb.connect(
        config={
            "threads": os.cpu_count() or 1,
            "memory_limit": memory_limit,
            "temp_directory": str(scratch),
            "preserve_insertion_order": False,
        }
    )


_BYTES = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def memory_bytes(session: BatchSession) -> int | None:
    """The memory limit of a DuckDB session, in bytes (None on Spark, whose operators all
    spill). A step whose state DuckDB cannot spill sizes its parts by it."""
    if session.dialect.spark:
        return None
    [(setting,)] = session.rows("SELECT current_setting('memory_limit')")
    amount, _, unit = str(setting).partition(" ")
    return int(float(amount) * _BYTES.get(unit, 1))


def parts_for(session: BatchSession, relation: str, bytes_per_row: int) -> int:
    """In how many parts a DuckDB session works through the rows of ``relation`` in a
    step whose state takes ``bytes_per_row`` each and must fit in its memory limit at
    once. On Spark, whose operators spill whole, 1, and nothing is counted."""
    limit = memory_bytes(session)
    if limit is None:
        return 1
    [(rows,)] = session.rows(f"SELECT count(*) FROM {relation}")
    return max(1, -(-int(rows) * bytes_per_row // limit))


# bytes of memory limit per user when DuckDB joins users: a hash table of 50 million
# users wants one block of 128 to 512 MB, which a 1 GB limit could not give beside the
# job's other tables
_BYTES_PER_USER = 100


def user_parts(session: BatchSession, users: str) -> int:
    """In how many parts a session joins the relation ``users`` with another as large."""
    return parts_for(session, users, _BYTES_PER_USER)


def create_in_parts(session: BatchSession, name: str, queries: Iterable[str]) -> None:
    """Keep the rows of ``queries`` (the parts of one result) as the table ``name``."""
    for number, query in enumerate(queries):
        if number == 0:
            session.create_table(name, query)
        else:
            session.insert(name, query)


def part_of(relation: str, column: str, part: int, parts: int) -> str:
    """SQL for part ``part`` of ``parts`` of ``relation``, split on the integer
    ``column`` (the relation itself when there is one part)."""
    if parts == 1:
        return relation
    return f"(SELECT * FROM {relation} WHERE {column} % {parts} = {part})"


def streamed(session: BatchSession, query: str, rows: int = 50_000) -> Iterator[tuple[Any, ...]]:
    """The rows of ``query``'s result as tuples, read in batches of ``rows`` (never the
    whole result in Python at once)."""
    for block in session.stream(query, rows):
        yield from zip(*(column.to_pylist() for column in block.columns), strict=True)


def sql_text(text: str) -> str:
    """``text`` as a SQL string literal, quotes doubled (for views, which take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def sql_in(expression: str, literals: Iterable[str]) -> str:
    """SQL: whether ``expression`` is one of the SQL ``literals``, as ``list_contains``
    over a list value. DuckDB plans ``IN (...)`` over more than a few values as a join
    with the list, once per test: a million profile rows' checks ran five of them, 0.7 s
    of CPU, against 0.1 s. A NULL ``expression`` gives NULL, as with ``IN``."""
    return f"list_contains([{', '.join(literals)}], {expression})"


def copy_table(session: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Copy an Arrow table into the temporary table ``name`` (made, or added to when it
    exists), so that later statements read DuckDB's own storage, not Python memory."""
    session.register(f"{name}_rows", table)
    try:
        session.execute(f"INSERT INTO temp.main.{name} SELECT * FROM {name}_rows")
    except duckdb.CatalogException:  # not made yet (see DuckBatch.drop)
        session.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_rows")
    session.unregister(f"{name}_rows")
