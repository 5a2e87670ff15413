"""A Spark batch keeps what its optimiser proves empty without running a Spark job.

A people job makes several tables it knows to be empty (the tables its inserts
fill, a difference with a destination that holds nothing yet); each was a Spark
job writing nothing, 0.3 s to 1.6 s apiece. These tests hold the shortcut to what
the job did: the same columns and types, to Spark and to DuckDB, and rows added
afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audiencehub.engines.lake import LakeFile
from audiencehub.engines.spark import SparkBatch, SparkSettings, spark_session

_GROUP = "empty-tables-probe"


@pytest.fixture
def batch(spark_settings: SparkSettings, tmp_path) -> Iterator[SparkBatch]:
    """A Spark batch whose jobs are counted under one job group."""
    spark = spark_session(spark_settings)
    spark.sparkContext.setJobGroup(_GROUP, "jobs a test counts")
    batch = SparkBatch(spark, tmp_path)
    try:
        yield batch
    finally:
        batch.close()
        spark.sparkContext.setJobGroup("", "")


def _jobs(batch: SparkBatch) -> int:
    return len(batch.spark.sparkContext.statusTracker().getJobIdsForGroup(_GROUP))


def test_a_table_proven_empty_is_written_without_a_spark_job(batch):
    """``LIMIT 0`` and a filter of a lake table without files: no job, the right
    schema to Spark and DuckDB (timestamps as Spark writes them), and rows inserted
    later are read with it."""
    batch.read_lake("lake_published", [], "destination_id INTEGER, member STRING")
    before = _jobs(batch)
    batch.create_table(
        "typed",
        "SELECT CAST(NULL AS INTEGER) AS segment_id, CAST(NULL AS BIGINT) AS user_id, "
        "CAST(NULL AS STRING) AS member, CAST(NULL AS TIMESTAMP) AS realized_at LIMIT 0",
    )
    batch.create_table("held", "SELECT member FROM lake_published WHERE destination_id = 1")
    assert _jobs(batch) == before
    assert batch.spark.table("typed").dtypes == [
        ("segment_id", "int"),
        ("user_id", "bigint"),
        ("member", "string"),
        ("realized_at", "timestamp"),
    ]
    assert batch.rows("SELECT count(*) FROM held") == [(0,)]
    batch.insert(
        "typed",
        "SELECT 900, CAST(7 AS BIGINT), 'a', TIMESTAMP '2026-12-05 01:02:03' UNION ALL "
        "SELECT 901, CAST(8 AS BIGINT), 'b', TIMESTAMP '2026-12-05 04:05:06'",
    )
    assert batch.rows("SELECT segment_id, user_id, member FROM typed ORDER BY user_id") == [
        (900, 7, "a"),
        (901, 8, "b"),
    ]
    read = duckdb.connect().execute(
        "SELECT segment_id, user_id, member, typeof(realized_at), epoch_us(realized_at) "
        f"FROM {batch.as_duckdb('typed')} ORDER BY user_id"
    )
    stamps = [int(datetime(2026, 12, 5, h, h + 1, h + 2, tzinfo=UTC).timestamp()) for h in (1, 4)]
    assert read.fetchall() == [
        (900, 7, "a", "TIMESTAMP WITH TIME ZONE", stamps[0] * 1_000_000),
        (901, 8, "b", "TIMESTAMP WITH TIME ZONE", stamps[1] * 1_000_000),
    ]


def test_a_table_with_rows_is_still_written_by_spark(batch, tmp_path):
    """What the optimiser cannot prove empty runs as a job, even when it finds no row."""
    path = tmp_path / "users.parquet"
    pq.write_table(pa.table({"user_id": pa.array([1, 2], pa.int64())}), path)
    batch.read_lake("lake_users", [LakeFile(str(path), None)], "user_id BIGINT")
    before = _jobs(batch)
    batch.create_table("none", "SELECT user_id FROM lake_users WHERE user_id > 5")
    batch.create_table("some", "SELECT user_id FROM lake_users WHERE user_id > 1")
    assert _jobs(batch) > before
    assert batch.rows("SELECT count(*) FROM none") == [(0,)]
    assert batch.rows("SELECT user_id FROM some") == [(2,)]
