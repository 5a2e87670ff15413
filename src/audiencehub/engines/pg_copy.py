"""Rows a DuckDB query gives, COPY'd into a PostgreSQL table as DuckDB writes them.

DuckDB writes CSV into a named pipe on one thread while the PostgreSQL
connection reads it into ``COPY ... FROM STDIN``: DuckDB formats while
PostgreSQL parses, and nothing lands on disk (writing a million profiles to a
file first cost 0.9 s). The PostgreSQL side runs in the caller's transaction.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
from sqlalchemy import Connection

from audiencehub.engines.session import sql_text

__all__ = ["copy_to_postgresql", "in_background"]

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
