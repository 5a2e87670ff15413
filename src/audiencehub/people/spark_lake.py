"""The people lake as Spark reads and writes it, for a workspace whose jobs run on Spark.

Spark reads a lake table from the files the current snapshot lists: its
Parquet data files less the rows their positional delete files remove. It
writes a job's new rows as Parquet files into the lake's own data folder; the
job then registers them in the catalog inside its DuckDB transaction
(``ducklake_add_data_files``), beside the deletions DuckDB makes there. So the
catalog is still written by one process under the lake's writer lock, and a
job's whole change is still one snapshot; the rows themselves never pass
through the driver. A transaction that fails removes the files it would have
registered.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
from sqlalchemy import Engine

from audiencehub.engines.bulk_settings import scratch_of
from audiencehub.engines.lake import add_files, lake_files
from audiencehub.engines.session import BatchSession, DuckBatch
from audiencehub.engines.spark import SparkBatch, spark_of, spark_session
from audiencehub.files import scratch_folder
from audiencehub.people.lake import IN_DUCKDB, TABLES, LakeTables, lake_for

__all__ = ["job_session", "registered", "write_rows"]

#: the lake's tables as a Spark batch of :func:`job_session` names them
_ON_SPARK = LakeTables("lake_realisations", "lake_graph_users", "lake_published", "lake_signals")

_SPARK_TYPES = (("TIMESTAMPTZ", "TIMESTAMP"), ("VARCHAR[]", "ARRAY<STRING>"), ("VARCHAR", "STRING"))


def _spark_columns(table: str) -> str:
    """A lake table's columns as Spark DDL (nullability is the lake's to enforce)."""
    columns = TABLES[table].replace(" NOT NULL", "")
    for duck, spark in _SPARK_TYPES:
        columns = columns.replace(duck, spark)
    return columns


@contextlib.contextmanager
def job_session(
    engine: Engine, session: duckdb.DuckDBPyConnection, tables: Sequence[str]
) -> Iterator[tuple[BatchSession, LakeTables]]:
    """Where a people job works: the lake's own DuckDB ``session``, or, when the workspace
    runs on Spark, a Spark batch with ``tables`` of the lake as ``session`` (a writer's)
    sees them now; with the names each gives the lake's tables."""
    settings = spark_of(engine)
    if settings is None:
        yield DuckBatch(session), IN_DUCKDB
        return
    with scratch_folder(scratch_of(engine), "people-spark") as folder:
        batch = SparkBatch(spark_session(settings), Path(folder))
        try:
            for table in tables:
                files = lake_files(session, table)
                batch.read_lake(f"lake_{table}", files, _spark_columns(table))
            yield batch, _ON_SPARK
        finally:
            batch.close()


def write_rows(engine: Engine, batch: SparkBatch, table: str, query: str) -> list[str]:
    """Write the rows of ``query`` (the table's columns, in order) as new Parquet files in
    the lake's folder of ``table``; they are not part of the lake until :func:`registered`."""
    folder = f"{lake_for(engine).data_path}main/{table}/spark-{uuid.uuid4().hex}"
    return batch.write_files(query, folder)


@contextlib.contextmanager
def registered(session: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> Iterator[None]:
    """Register ``files`` as rows of ``table`` in the open transaction; the caller commits
    inside the block. If the block fails the files are removed (no snapshot names them)."""
    try:
        add_files(session, table, files)
        yield
    except BaseException:
        for folder in {Path(path).parent for path in files if "://" not in path}:
            shutil.rmtree(folder, ignore_errors=True)
        raise
