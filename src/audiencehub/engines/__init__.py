"""Bulk engines: batch files and stored keys joined in columnar form.

DuckDB is the embedded engine. It reads staged batch files in parallel, takes
stored keys as Arrow tables (:func:`extract`), and does in one pass the hashing,
decoding and joining that a per-row Python loop does several times slower.
"""

from __future__ import annotations

from audiencehub.engines.extracts import extract, extract_parquet
from audiencehub.engines.session import copy_table, open_session, sql_text

__all__ = [
    "copy_table",
    "extract",
    "extract_parquet",
    "open_session",
    "sql_text",
]
