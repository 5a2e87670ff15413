"""DuckDB sessions for one batch: in memory, bounded, spilling to a scratch folder."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

__all__ = ["copy_table", "open_session", "sql_text"]

# Beyond this DuckDB spills joins and sorts to the scratch folder, which keeps the
# whole job (DuckDB, Arrow extracts, the Python heap) well under 2 GB.
_MEMORY_LIMIT = "1GB"


def open_session(scratch: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB using every core, spilling to ``scratch``."""
    return duckdb.connect(
        config={
            "threads": os.cpu_count() or 1,
            "memory_limit": _MEMORY_LIMIT,
            "temp_directory": str(scratch),
            "preserve_insertion_order": False,
        }
    )


def sql_text(text: str) -> str:
    """``text`` as a SQL string literal, quotes doubled (for views, which take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def copy_table(session: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Copy an Arrow table into the temporary table ``name`` (made, or added to when it
    exists), so that later statements read DuckDB's own storage, not Python memory."""
    session.register(f"{name}_rows", table)
    exists = session.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [name]
    ).fetchall()[0][0]
    if exists:
        session.execute(f"INSERT INTO {name} SELECT * FROM {name}_rows")
    else:
        session.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_rows")
    session.unregister(f"{name}_rows")
