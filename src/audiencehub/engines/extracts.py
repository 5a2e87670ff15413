"""Query results as Arrow tables, read by ADBC straight from the database.

The bulk engine joins millions of stored keys against a batch. Reading them
through the Python DB-API builds a Python object per value (4.2 s for 10 M keys
on SQLite); ADBC's C drivers fill Arrow buffers directly (2.7 s). PostgreSQL is
read through its binary COPY protocol.

SQLite files are read in a separate process. ADBC links its own copy of SQLite,
and two copies of SQLite in one process corrupt each other's view of a WAL
database: POSIX locks are per process, so when one copy closes its file it
drops the other's locks and may reset the WAL under it (SQLite's "How To
Corrupt An SQLite Database File", section 2.2.1). Seen here: a reader in the
same process kept seeing the database as it was before later commits. The
worker writes its result to a scratch file in Arrow's IPC format, which is then
read into this process's memory in large reads. (Not through a pipe: the reader
would need the GIL for every 64 KB and slow the worker to its pace; not mapped:
the host may reclaim a mapped file's pages.)

Extracts run on their own connection and see committed data only: callers read
before they open the transaction that writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, Integer, LargeBinary, String
from sqlalchemy.sql import Select

from audiencehub.engines.bulk_settings import scratch_of
from audiencehub.errors import StorageError
from audiencehub.files import scratch_folder

__all__ = ["Batches", "extract", "extract_parquet"]

#: a transformation applied to an extract's record batches as they stream by
Batches = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]

_WORKER = Path(__file__).with_name("extract_worker.py")
# the hand-over file lives in shared memory when there is room: it is written once
# and read once, and a disk would only add writeback to both. Containers often
# mount a 64 MB /dev/shm; 10 M keys need 442 MB, so below 2 GB free the workspace's
# scratch path is used instead, else the system's temporary folder.
_SHM = Path("/dev/shm")  # noqa: S108 -- a private mkdtemp folder is made inside
_SHM_NEEDED = 2 << 30


def _handover_parent(engine: Engine) -> Path | None:
    """Shared memory when it has room, else the workspace's scratch path (None: the
    system's temporary folder)."""
    try:
        roomy = shutil.disk_usage(_SHM).free >= _SHM_NEEDED and os.access(_SHM, os.W_OK)
    except OSError:
        roomy = False
    return _SHM if roomy else scratch_of(engine)


# rows per Parquet row group: DuckDB's own size. A reader loads a column of a row
# group at once; unbounded groups (50 M digests: 1.6 GB) would not fit its limit
_ROW_GROUP = 122_880

# SQLite's driver infers column types from the values it sees (an empty result
# comes back as int64); the query's declared types are what callers rely on.
_ARROW_TYPES = ((String, pa.string()), (Integer, pa.int64()), (LargeBinary, pa.binary()))


def _declared(query: Select[Any], table: pa.Table) -> pa.Table:
    schema = table.schema
    for index, column in enumerate(query.selected_columns):
        for sql_type, arrow_type in _ARROW_TYPES:
            if isinstance(column.type, sql_type) and schema.field(index).type != arrow_type:
                schema = schema.set(index, pa.field(schema.field(index).name, arrow_type))
    return table if schema == table.schema else table.cast(schema)


def _run_worker(database: str, sql: str, target: Path) -> None:
    done = subprocess.run(  # noqa: S603 -- our own interpreter and worker file
        [sys.executable, "-I", str(_WORKER)],
        input=json.dumps({"database": database, "sql": sql, "target": str(target)}),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise StorageError(
            f"reading {database} for the bulk engine failed: "
            + (lines[-1] if lines else "no message"),
            hint="Check that the workspace database is readable and not corrupt.",
        )


def extract_parquet(
    engine: Engine, query: Select[Any], target: Path, transform: Batches | None = None
) -> Path:
    """Write the rows of ``query`` to the Parquet file ``target``, batch by batch.

    For results larger than a process should hold (50 M stored keys are 2 GB as
    Arrow): no more than a batch is in memory at once, and the bulk engine reads
    the file itself, within its own memory limit and spilling as it needs.
    ``transform`` sees the batches in order (to drop or rewrite rows as they pass).
    """
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with _batches(engine, sql) as (schema, batches):
        schema = _declared(query, schema.empty_table()).schema
        stream = (batch.cast(schema) for batch in batches)
        with pq.ParquetWriter(str(target), schema, compression="none") as writer:
            for batch in transform(stream) if transform else stream:
                writer.write_batch(batch, row_group_size=_ROW_GROUP)
    return target


@contextmanager
def _batches(engine: Engine, sql: str) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    if engine.url.get_backend_name() == "sqlite":
        with scratch_folder(_handover_parent(engine), "extract") as folder:
            handover = folder / "result.arrows"
            _run_worker(engine.url.database or "", sql, handover)
            with pa.OSFile(str(handover)) as source:  # read, not mapped
                reader = pa.ipc.open_stream(source)
                yield reader.schema, iter(reader)
        return
    import adbc_driver_postgresql.dbapi

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with adbc_driver_postgresql.dbapi.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        stream = cursor.fetch_record_batch()
        yield stream.schema, iter(stream)


def extract(engine: Engine, query: Select[Any]) -> pa.Table:
    """The rows of ``query``, read from ``engine``'s database on a connection of their own.

    Bound values are rendered as SQL literals by SQLAlchemy's dialect (quoted and
    escaped); queries built here carry only enum values and ids.
    """
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with _batches(engine, sql) as (schema, batches):
        table = pa.Table.from_batches(batches, schema=schema)
    return _declared(query, table)
