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
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from audiencehub.engines.dialect import SPARK, Dialect
from audiencehub.errors import ConfigurationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkBatch", "SparkSettings", "bind_spark", "spark_of", "spark_session"]

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


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs (``local[*]``, ``spark://host:7077``, ``yarn``...) and its settings."""

    master: str = "local[*]"
    conf: Mapping[str, str] = field(default_factory=dict)

    def merged(self) -> dict[str, str]:
        """The workspace's settings over the defaults."""
        return {**_DEFAULTS, **self.conf}


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
        if settings.master.startswith("local"):
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
        """Write the result of ``query`` as Parquet and name what was written."""
        target = self.path(name)
        self.spark.sql(query).write.mode("overwrite").parquet(str(target))
        self.spark.read.parquet(str(target)).createOrReplaceTempView(name)
        self._names.add(name)

    def create_view(self, name: str, query: str) -> None:
        """Name ``query``: each use of ``name`` runs it again."""
        self.spark.sql(query).createOrReplaceTempView(name)
        self._names.add(name)

    def register(self, name: str, table: pa.Table) -> None:
        """Write an Arrow table as one Parquet file and name it."""
        target = self.path(name)
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target / "part-0.parquet", compression="none")
        self.spark.read.parquet(str(target)).createOrReplaceTempView(name)
        self._names.add(name)

    def read_parquet(self, name: str, path: Path) -> None:
        """Name the Parquet file ``path``, read by Spark itself when used."""
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)
        self._names.add(name)

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


# The Spark settings of each control-plane engine a workspace opened on Spark.
_BOUND: weakref.WeakKeyDictionary[Engine, SparkSettings] = weakref.WeakKeyDictionary()


def bind_spark(engine: Engine, settings: SparkSettings) -> None:
    """Remember that ``engine``'s system runs its bulk jobs on Spark with ``settings``."""
    _BOUND[engine] = settings


def spark_of(engine: Engine) -> SparkSettings | None:
    """The Spark settings bound to ``engine``; None when its jobs run on DuckDB."""
    return _BOUND.get(engine)
