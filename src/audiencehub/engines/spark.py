"""Apache Spark as the bulk engine for data beyond one machine (optional extra ``spark``).

A workspace whose settings say ``bulk_engine = "spark"`` runs its batch
queries here instead of in DuckDB: the same SQL (spelled by
:data:`~audiencehub.engines.dialect.SPARK`) over the same files. What a job
hands Spark (stored keys, click links, decoded IDs) is written once as Parquet
into the job's scratch folder, which on a cluster must be a path every
executor reads (``s3a://`` or a shared file system); what Spark hands back
is Parquet too, read by DuckDB or PyArrow. The control plane is read once per
job by the driver, never by executors.

PySpark is imported on first use: a workspace on DuckDB never needs it. One
Spark session serves a process (Spark allows one context per JVM); the first
workspace to ask sets its master and settings.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from audiencehub.engines.dialect import SPARK, Dialect
from audiencehub.engines.lake import LakeFile
from audiencehub.engines.session import sql_text
from audiencehub.errors import ConfigurationError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = [
    "SparkBatch",
    "SparkSettings",
    "bind_spark",
    "local_path",
    "spark_of",
    "spark_path",
    "spark_session",
]

# Settings every session gets unless the workspace sets them: no web UI (a port
# per job), few shuffle partitions (200 by default: 200 tasks per step on a
# laptop-sized master), UTC for timestamps.
_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "2g",
    "spark.sql.adaptive.enabled": "true",
}
# And a local master's: its driver is its only executor, whose collector is the JVM's
# throughput one rather than G1, whose concurrent threads take turns with the tasks on
# a few cores (at 10 M users, alternating: 20 segments 46.7 s and 51.2 s against 55.2 s
# and 64.2 s, a full publication 62.5 s and 63.7 s against 68.9 s and 67.0 s)
_LOCAL_DEFAULTS = {"spark.driver.extraJavaOptions": "-XX:+UseParallelGC"}


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs (``local[*]``, ``spark://host:7077``, ``yarn``...) and its settings."""

    master: str = "local[*]"
    conf: Mapping[str, str] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        """Whether Spark runs in this process's own JVM (``local``, ``local[N]``,
        ``local[*]``, ``local[N,F]``): its driver is then its only executor, on this
        machine (``local-cluster[...]`` starts executors of their own)."""
        return self.master == "local" or self.master.startswith("local[")

    def merged(self) -> dict[str, str]:
        """The workspace's settings over the defaults (a local master's included)."""
        return {**_DEFAULTS, **(_LOCAL_DEFAULTS if self.local else {}), **self.conf}


_SESSION: list[SparkSession] = []
# set by spark-submit for the Python driver it starts (the JVM is already running)
_SUBMITTED = "PYSPARK_GATEWAY_PORT"


def spark_session(settings: SparkSettings) -> SparkSession:
    """The process's Spark session, started with ``settings`` on first use."""
    if _SESSION:
        return _SESSION[0]
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigurationError(
            "this workspace runs its bulk jobs on Spark, and PySpark is not installed",
            hint="Install the spark extra (pip install 'audiencehub[spark]'), "
            'or set bulk_engine = "duckdb".',
        ) from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ConfigurationError(
            "Spark needs a Java runtime (17 or newer), and none was found",
            hint="Install one (apt-get install openjdk-17-jre-headless) or set JAVA_HOME.",
        )
    builder = SparkSession.builder.appName("audiencehub")
    if _SUBMITTED in os.environ:
        # started by spark-submit: its master and settings win; the workspace's own
        # spark_conf is added, the defaults (made for a local master) are not
        configured = dict(settings.conf)
    else:
        builder = builder.master(settings.master)
        configured = settings.merged()
        if settings.local:
            # Spark's Python workers run this interpreter, the one audiencehub is
            # installed in (PySpark reads it from the environment, not its settings)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in configured.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    _SESSION.append(session)
    return session


class SparkBatch:
    """A Spark session as a :class:`~audiencehub.engines.session.BatchSession`, for one job.

    Tables it keeps are Parquet folders under ``scratch`` (a temporary table in
    Spark is only a plan: kept results must be written somewhere), removed by
    :meth:`close`.
    """

    dialect: Dialect = SPARK

    def __init__(self, spark: SparkSession, scratch: Path) -> None:
        self.spark = spark
        # timestamps as the lake and DuckDB read them (Spark's default is the legacy INT96)
        spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        self.scratch = scratch / "spark"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self._names: set[str] = set()

    def path(self, name: str) -> Path:
        """Where the table ``name`` is kept (a Parquet folder, or one file when registered)."""
        return self.scratch / name

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """Run ``query`` and return its (small) result."""
        return [tuple(row) for row in self.spark.sql(query).collect()]

    def create_table(self, name: str, query: str) -> None:
        """Write the result of ``query`` as Parquet and name what was written.

        A result Spark's optimiser proves empty (``LIMIT 0``, a filter of a lake table
        without files) is written here as one empty file: a Spark job writing nothing
        costs 0.3 s to 1.6 s, and a job makes several such tables."""
        target = self.path(name)
        rows = self.spark.sql(query)
        if _holds_nothing(rows):
            self._write_file(name, _arrow_schema(rows.schema).empty_table())
        else:
            rows.write.mode("overwrite").parquet(str(target))
        self._name_files(name, rows.schema)

    def create_view(self, name: str, query: str) -> None:
        """Name ``query``: each use of ``name`` runs it again."""
        self.spark.sql(query).createOrReplaceTempView(name)
        self._names.add(name)

    def register(self, name: str, table: pa.Table) -> None:
        """Write an Arrow table as one Parquet file and name it."""
        self._write_file(name, table)
        self.spark.read.parquet(str(self.path(name))).createOrReplaceTempView(name)
        self._names.add(name)

    def _write_file(self, name: str, table: pa.Table) -> None:
        """Make ``table`` the one Parquet file of the folder kept for ``name``."""
        target = self.path(name)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        pq.write_table(table, target / "part-0.parquet", compression="none")

    def read_parquet(self, name: str, path: Path) -> None:
        """Name the Parquet file ``path``, read by Spark itself when used."""
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)
        self._names.add(name)

    def insert(self, name: str, query: str) -> None:
        """Add the rows of ``query`` to the table ``name`` (new Parquet files beside its own),
        with the table's column names and types, whatever ``query`` calls them."""
        from pyspark.sql import functions as f

        schema = self.spark.table(name).schema
        rows = self.spark.sql(query).toDF(*schema.names)
        rows = rows.select(*[f.col(c.name).cast(c.dataType) for c in schema.fields])
        rows.write.mode("append").parquet(str(self.path(name)))
        self._name_files(name, schema)

    def _name_files(self, name: str, schema: StructType) -> None:
        """Name the Parquet folder of ``name``, read with ``schema`` (known: Spark need not
        open a file to find it)."""
        self.spark.read.schema(schema).parquet(str(self.path(name))).createOrReplaceTempView(name)
        self._names.add(name)

    def drop(self, name: str) -> None:
        """Drop the table or view ``name`` (an unknown name is ignored), and the lines
        :meth:`numbered_lines` kept for it."""
        for kept in (name, f"{name}_raw", f"{name}_lines"):
            self.unregister(kept)

    def drop_column(self, name: str, column: str) -> None:
        """Nothing to free: Spark holds no table in memory, and reads Parquet by column."""

    def as_duckdb(self, name: str) -> str:
        """SQL for DuckDB reading the table ``name`` where this batch kept it (Parquet)."""
        return f"read_parquet({sql_text(str(self.path(name) / '*.parquet'))})"

    def numbered_lines(
        self,
        name: str,
        files: Sequence[Path],
        per_file: int,
        stages: Sequence[str] = (),
    ) -> None:
        """Name the lines of ``files`` as ``name(k, line)`` (or what ``stages`` make of
        them, applied to the numbered lines), numbered without a pass through
        Python: Spark reads each file in blocks, a task reads a block's lines in order
        (``monotonically_increasing_id`` counts them), and a line's number is the lines
        of the blocks before it plus its place in its own block."""
        from pyspark.sql import Window
        from pyspark.sql import functions as f

        frames = [
            self.spark.read.option("lineSep", "\n")
            .text(spark_path(str(path)))
            .select(
                f.lit(number).alias("f"),
                f.col("_metadata.file_block_start").alias("block"),
                f.monotonically_increasing_id().alias("seq"),
                f.col("value").alias("line"),
            )
            for number, path in enumerate(files)
        ]
        raw = frames[0]
        for frame in frames[1:]:
            raw = raw.unionByName(frame)
        kept = self.path(f"{name}_raw")  # the ids are only stable once written
        raw.write.mode("overwrite").parquet(str(kept))
        raw = self.spark.read.parquet(str(kept))
        blocks = raw.groupBy("f", "block").agg(
            f.count("*").alias("lines"), f.min("seq").alias("first")
        )
        earlier = (
            Window.partitionBy("f").orderBy("block").rowsBetween(Window.unboundedPreceding, -1)
        )
        blocks = blocks.withColumn("before", f.coalesce(f.sum("lines").over(earlier), f.lit(0)))
        numbered = raw.join(f.broadcast(blocks), ["f", "block"]).select(
            (
                f.col("f").cast("bigint") * per_file
                + f.col("before")
                + (f.col("seq") - f.col("first"))
                + 1
            ).alias("k"),
            f.when(f.col("line") != "", f.col("line")).alias("line"),
        )
        if not stages:
            numbered.createOrReplaceTempView(name)
            self._names.update((name, f"{name}_raw"))
            return
        lines = f"{name}_lines"
        numbered.createOrReplaceTempView(lines)
        query = f"SELECT k, line FROM {lines}"
        for stage in stages:
            query = f"SELECT k, {stage} FROM ({query}) s"
        self.create_table(name, query)  # written once: a view would read the lines again
        self._names.update((f"{name}_raw", lines))

    def keep(self, name: str, table: pa.Table) -> None:
        """Keep an Arrow table as the table ``name`` (one Parquet file)."""
        self.unregister(name)
        self.register(name, table)

    def stream(self, query: str, rows: int) -> Iterator[pa.RecordBatch]:
        """The result of ``query`` in batches of at most ``rows``, in its order: Spark writes
        it as Parquet (each part a range of the order, numbered in order), read back here."""
        target = self.path(f"stream_{uuid.uuid4().hex}")
        self.spark.sql(query).write.parquet(str(target))
        try:
            for part in sorted(target.glob("part-*.parquet")):
                yield from pq.ParquetFile(part).iter_batches(batch_size=rows)
        finally:
            shutil.rmtree(target, ignore_errors=True)

    def read_lake(self, name: str, files: Sequence[LakeFile], schema: str) -> None:
        """Name a lake table as its current snapshot has it: its data files, less the rows
        its positional delete files remove (matched by file name and row index).
        ``schema`` is the table's columns as Spark DDL (``user_id BIGINT, ...``)."""
        from pyspark.sql import functions as f

        if not files:
            # ``limit(0)``: the optimiser then knows the table is empty, and so is any
            # filter of it (see :meth:`create_table`)
            self.spark.createDataFrame([], schema).limit(0).createOrReplaceTempView(name)
            self._names.add(name)
            return
        # Only the files with deletes are read with each row's file and place: those
        # metadata columns cost every scan (a grouping of 10 M realisations by user took
        # 16.7 s in a new session with them, 12.3 s to 13.5 s without).
        whole = [spark_path(file.data) for file in files if not file.deletes]
        cut = [file for file in files if file.deletes]
        parts = [self.spark.read.schema(schema).parquet(*whole)] if whole else []
        if cut:
            data = (
                self.spark.read.schema(schema)
                .parquet(*[spark_path(file.data) for file in cut])
                .select(
                    "*",
                    f.col("_metadata.file_name").alias("_lake_file"),
                    f.col("_metadata.row_index").alias("_lake_row"),
                )
            )
            gone = self.spark.read.parquet(*[spark_path(str(file.deletes)) for file in cut]).select(
                f.regexp_extract("file_path", r"[^/]+$", 0).alias("_lake_file"),
                f.col("pos").alias("_lake_row"),
            )
            parts.append(
                data.join(gone, ["_lake_file", "_lake_row"], "left_anti").drop(
                    "_lake_file", "_lake_row"
                )
            )
        rows = parts[0]
        for part in parts[1:]:
            rows = rows.unionByName(part)
        rows.createOrReplaceTempView(name)
        self._names.add(name)

    def write_files(self, query: str, folder: str) -> list[str]:
        """Write the result of ``query`` as Parquet files into ``folder`` (a local path or an
        ``s3://`` prefix, as the lake names them); returns the files, named the same way.
        In a local folder, Spark's bookkeeping files beside them (``_SUCCESS``, checksums)
        and any part without rows are removed."""
        target = spark_path(folder)
        self.spark.sql(query).write.parquet(target)
        written = sorted(local_path(p) for p in self.spark.read.parquet(target).inputFiles())
        if "://" in folder:
            return written  # (an empty part there is left to the lake's orphan cleanup)
        for extra in Path(folder).iterdir():
            if extra.name.startswith((".", "_")):
                extra.unlink()
        # a part without rows (an empty result still writes one) is not a lake file:
        # the lake would not record it
        empty = {p for p in written if pq.ParquetFile(p).metadata.num_rows == 0}
        for path in empty:
            Path(path).unlink()
        return [p for p in written if p not in empty]

    def text_lines(self, paths: list[str]) -> str:
        """A relation of the lines of ``paths``, one column ``line`` (Spark's text reader)."""
        name = f"text_{len(self._names)}"
        self.spark.read.text(paths).withColumnRenamed("value", "line").createOrReplaceTempView(name)
        self._names.add(name)
        return name

    def unregister(self, name: str) -> None:
        """Forget ``name`` and the files kept for it (an unknown name is ignored)."""
        self.spark.catalog.dropTempView(name)
        self._names.discard(name)
        shutil.rmtree(self.path(name), ignore_errors=True)

    def to_arrow(self, name: str) -> pa.Table:
        """A table :meth:`create_table` kept, read back by PyArrow."""
        return pq.read_table(self.path(name))

    def close(self) -> None:
        """Forget every name this batch gave and remove its files."""
        for name in list(self._names):
            self.spark.catalog.dropTempView(name)
        self._names.clear()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _holds_nothing(rows: DataFrame) -> bool:
    """Whether Spark's optimised plan of ``rows`` bounds them to none (found without a job).
    Asked of the JVM's query execution: a Spark Connect client has none, and writes."""
    frame = getattr(rows, "_jdf", None)
    if frame is None:
        return False
    bound = frame.queryExecution().optimizedPlan().maxRows()
    return bool(bound.isDefined()) and int(bound.get()) == 0


def _arrow_schema(schema: StructType) -> pa.Schema:
    """A Spark schema as Arrow's, timestamps as Spark writes them (microseconds, UTC)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema, timezone="UTC")


def spark_path(path: str) -> str:
    """A path as Spark reads it: ``s3://`` through the S3A connector."""
    return "s3a://" + path.removeprefix("s3://") if path.startswith("s3://") else path


def local_path(path: str) -> str:
    """A path Spark gave back, as DuckDB and the lake name it (``/...``, ``s3://...``)."""
    if path.startswith("file:"):
        return "/" + unquote(path.removeprefix("file:")).lstrip("/")
    if path.startswith("s3a://"):
        return "s3://" + path.removeprefix("s3a://")
    return path


# The Spark settings of each control-plane engine a workspace opened on Spark.
_BOUND: weakref.WeakKeyDictionary[Engine, SparkSettings] = weakref.WeakKeyDictionary()


def bind_spark(engine: Engine, settings: SparkSettings) -> None:
    """Remember that ``engine``'s system runs its bulk jobs on Spark with ``settings``."""
    _BOUND[engine] = settings


def spark_of(engine: Engine) -> SparkSettings | None:
    """The Spark settings bound to ``engine``; None when its jobs run on DuckDB."""
    return _BOUND.get(engine)
