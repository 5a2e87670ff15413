"""Rows moved between DuckDB and PostgreSQL by COPY, as one side writes them.

DuckDB writes CSV into a named pipe on one thread while the PostgreSQL
connection reads it into ``COPY ... FROM STDIN``: DuckDB formats while
PostgreSQL parses, and nothing lands on disk (writing a million profiles to a
file first cost 0.9 s). The other way, PostgreSQL's ``COPY ... TO STDOUT`` goes
into a pipe DuckDB's CSV reader reads. The PostgreSQL side runs in the
caller's transaction.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
from sqlalchemy import Connection

from audiencehub.engines.session import sql_text

__all__ = ["copy_from_postgresql", "copy_to_postgresql", "in_background"]

_BLOCK = 1 << 20


def copy_to_postgresql(
    connection: Connection,
    db: duckdb.DuckDBPyConnection,
    folder: Path,
    table: str,
    columns: Sequence[str],
    query: str,
) -> None:
    """COPY the rows of DuckDB's ``query`` into PostgreSQL's ``table`` (``columns``, in the
    query's order), through a pipe made in the private ``folder``."""
    pipe = folder / f"{table}.pipe"
    os.mkfifo(pipe, 0o600)
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            db.cursor().execute(
                f"COPY ({query}) TO {sql_text(str(pipe))} (FORMAT csv, HEADER false)"
            )
        except BaseException as exc:
            failed.append(exc)
            with contextlib.suppress(OSError), pipe.open("wb"):
                pass  # the reader waits for a writer to open the pipe: let it see the end

    writer = threading.Thread(target=produce, name=f"copy-{table}")
    writer.start()
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
    try:
        with pipe.open("rb") as data, cursor.copy(statement) as copy:
            while block := data.read(_BLOCK):
                copy.write(block)
            writer.join()
            if failed:
                raise failed[0]
    finally:
        writer.join()
        pipe.unlink()


def copy_from_postgresql(
    connection: Connection,
    db: duckdb.DuckDBPyConnection,
    folder: Path,
    query: str,
    table: str,
    columns: Mapping[str, str],
) -> None:
    """Make DuckDB's ``table`` (``columns``: name to DuckDB type, in the query's order)
    from the rows of PostgreSQL's ``query``, run in the caller's transaction: PostgreSQL
    writes CSV while DuckDB reads it, through a pipe made in the private ``folder``."""
    pipe = folder / f"{table}.in.pipe"
    os.mkfifo(pipe, 0o600)
    failed: list[BaseException] = []
    types = ", ".join(f"{sql_text(name)}: {sql_text(kind)}" for name, kind in columns.items())

    def consume() -> None:
        try:
            db.cursor().execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_csv({sql_text(str(pipe))}, "
                f"columns = {{{types}}}, header = false, auto_detect = false, "
                "allow_quoted_nulls = false)"
            )
        except BaseException as exc:
            failed.append(exc)
            with contextlib.suppress(OSError), pipe.open("rb") as data:
                while data.read(_BLOCK):
                    pass  # the writer waits for a reader: let it finish

    reader = threading.Thread(target=consume, name=f"copy-in-{table}")
    reader.start()
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with pipe.open("wb") as data, cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                data.write(block)
    finally:
        reader.join()
        pipe.unlink()
    if failed:
        raise failed[0]


@contextmanager
def in_background(db: duckdb.DuckDBPyConnection, statement: str | None) -> Iterator[None]:
    """Run ``statement`` (if any) on its own DuckDB cursor while the block runs; its error,
    if any, is raised when the block ends."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            if statement is not None:
                db.cursor().execute(statement)
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=run, name="duckdb-background")
    worker.start()
    try:
        yield
    finally:
        worker.join()
    if failed:
        raise failed[0]
