"""DuckDB sessions for one batch: in memory, bounded, spilling to a scratch folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["open_session", "scalar"]

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


def scalar(session: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> int:
    """The integer a one-row query returns (0 for NULL).

    Results are fetched whole: DuckDB 2 refuses further work on a connection
    whose last result was not read to the end.
    """
    rows = session.execute(sql, params).fetchall()
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0
