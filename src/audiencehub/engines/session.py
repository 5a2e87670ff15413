"""DuckDB sessions for one batch: in memory, bounded, spilling to a scratch folder."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

__all__ = ["open_session", "sql_text"]

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
