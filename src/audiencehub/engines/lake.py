"""DuckLake: tables whose catalog is a SQL database and whose data are Parquet files.

A bulk job opens the lake in an in-memory DuckDB, does its work with set
operations and commits it as one snapshot; a reader sees whole snapshots only,
and any snapshot can be read again (``AT (TIMESTAMP => ...)``) until it expires.
The catalog lives in the same kind of database as the system's control plane:
a SQLite file beside it (in WAL mode, so readers never wait for a commit), or a
schema of the same PostgreSQL database. The Parquet files live in a folder or on
S3, where other engines (Spark) read them too.

DuckLake ships as DuckDB extensions built for one exact DuckDB release; they are
loaded from their installed Python packages and never downloaded at run time.

Writers are serialised by :func:`writer_lock`. Without it two commits to a SQLite
catalog collide ("database is locked") and one of them fails after its work is
done; with it the second job waits for the first and then sees what it did.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

import duckdb
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from audiencehub.engines.bulk_settings import DEFAULT_MEMORY_LIMIT
from audiencehub.engines.session import sql_text
from audiencehub.errors import ConfigurationError, StorageError

__all__ = [
    "Lake",
    "LakeFile",
    "add_files",
    "bind_lake",
    "lake_beside",
    "lake_files",
    "lake_of",
    "open_lake",
    "writer_lock",
]

_ALIAS = "lake"


@dataclass(frozen=True, slots=True)
class Lake:
    """Where a lake is and how a job may use it."""

    #: DuckLake's catalog: ``sqlite:<file>`` or ``postgres:<libpq keywords>``
    catalog: str
    #: the Parquet files' folder (or ``s3://bucket/prefix/``), ending with ``/``
    data_path: str
    #: the catalog's schema in a PostgreSQL database (None in a SQLite file)
    metadata_schema: str | None = None
    memory_limit: str = DEFAULT_MEMORY_LIMIT
    s3_endpoint_url: str | None = None

    @property
    def sqlite_file(self) -> Path | None:
        """The catalog's file, when the catalog is SQLite."""
        return (
            Path(self.catalog.removeprefix("sqlite:"))
            if self.catalog.startswith("sqlite:")
            else None
        )

    def with_settings(self, *, memory_limit: str | None, s3_endpoint_url: str | None) -> Lake:
        """This lake with a job's memory limit and S3 endpoint."""
        return replace(
            self,
            memory_limit=memory_limit or self.memory_limit,
            s3_endpoint_url=s3_endpoint_url,
        )


def lake_beside(control_url: str, *, name: str, data_path: str | None = None) -> Lake:
    """The lake ``name`` of the control plane at ``control_url``.

    On SQLite the catalog is the file ``<name>.sqlite`` beside the database and the
    data the folder ``<name>/`` beside it; on PostgreSQL the catalog is the schema
    ``name`` of the same database, and ``data_path`` must be given.
    """
    url = make_url(control_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database or "").resolve()
        folder = data_path or str(database.parent / name)
        return Lake(f"sqlite:{database.parent / f'{name}.sqlite'}", _folder(folder))
    if url.get_backend_name() == "postgresql":
        if not data_path:
            raise ConfigurationError(
                f"the {name} lake of a PostgreSQL database needs a data path",
                hint="Open the database through its workspace, which names the lake's folder.",
            )
        keywords = {
            "dbname": url.database,
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
        }
        libpq = " ".join(f"{k}={_libpq(str(v))}" for k, v in keywords.items() if v is not None)
        return Lake(f"postgres:{libpq}", _folder(data_path), metadata_schema=name)
    raise ConfigurationError(f"a lake cannot have its catalog in {url.get_backend_name()}")


def _folder(path: str) -> str:
    if urlparse(path).scheme == "s3":
        return path.rstrip("/") + "/"
    return str(Path(path).resolve()) + "/"


def _libpq(value: str) -> str:
    """A libpq keyword value, quoted when it holds spaces, quotes or backslashes."""
    if value and not any(c in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# The lake of each control-plane engine a workspace opened (it knows the settings).
_BOUND: weakref.WeakKeyDictionary[Engine, Lake] = weakref.WeakKeyDictionary()


def bind_lake(engine: Engine, lake: Lake) -> None:
    """Remember that ``engine``'s system keeps its bulk state in ``lake``."""
    _BOUND[engine] = lake


def lake_of(engine: Engine, *, name: str) -> Lake:
    """The lake bound to ``engine``, else the one :func:`lake_beside` its database."""
    bound = _BOUND.get(engine)
    if bound is not None:
        return bound
    return lake_beside(engine.url.render_as_string(hide_password=False), name=name)


def _extension(name: str) -> str:
    """The path of an installed extension package's binary for this DuckDB."""
    package = resources.files(f"duckdb_extension_{name}")
    found = package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not found.is_file():
        raise ConfigurationError(
            f"the DuckDB extension {name} for DuckDB {duckdb.__version__} is not installed",
            hint=f"Install duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}.",
        )
    return str(found)


def _prepare_sqlite_catalog(path: Path) -> None:
    """Create a new SQLite catalog in WAL mode (kept in the file): a reader then never
    waits for, or fails on, a writer's commit. Only a new file is touched here; from
    then on only DuckDB's SQLite opens it (two SQLite libraries must never share a
    file in one process, see :mod:`audiencehub.engines.extracts`)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def open_lake(
    lake: Lake, scratch: Path, *, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as ``lake`` (created on first use),
    using every core (or ``threads``) and spilling to ``scratch``."""
    connection = duckdb.connect(
        config={
            "threads": threads or os.cpu_count() or 1,
            "memory_limit": lake.memory_limit,
            "temp_directory": str(scratch),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    try:
        names = ["ducklake", "sqlite_scanner" if lake.sqlite_file else "postgres_scanner"]
        if lake.data_path.startswith("s3://"):
            names.append("httpfs")
        for name in names:
            connection.execute(f"LOAD {sql_text(_extension(name))}")
        if lake.data_path.startswith("s3://"):
            _s3_secret(connection, lake)
        if lake.sqlite_file:
            _prepare_sqlite_catalog(lake.sqlite_file)
        # every row in Parquet (none inlined in the catalog): other engines read the files
        options = [
            f"DATA_PATH {sql_text(lake.data_path)}",
            "OVERRIDE_DATA_PATH true",
            "DATA_INLINING_ROW_LIMIT 0",
        ]
        if lake.metadata_schema:
            options.append(f"METADATA_SCHEMA {sql_text(lake.metadata_schema)}")
        connection.execute(
            f"ATTACH {sql_text('ducklake:' + lake.catalog)} AS {_ALIAS} ({', '.join(options)})"
        )
    except duckdb.Error as exc:
        connection.close()
        # the catalog string may hold a password: the message names the kind of failure only
        raise StorageError(
            f"the lake's catalog could not be opened ({type(exc).__name__})",
            hint="Check that the workspace's database is reachable and the lake's folder writable.",
        ) from None
    return connection


def _s3_secret(connection: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """S3 credentials from the standard AWS variables, for a lake whose data is on S3."""
    parts = ["TYPE s3"]
    for option, variable in (
        ("KEY_ID", "AWS_ACCESS_KEY_ID"),
        ("SECRET", "AWS_SECRET_ACCESS_KEY"),
        ("SESSION_TOKEN", "AWS_SESSION_TOKEN"),
        ("REGION", "AWS_DEFAULT_REGION"),
    ):
        if value := os.environ.get(variable):
            parts.append(f"{option} {sql_text(value)}")
    endpoint = lake.s3_endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        parts.append(f"ENDPOINT {sql_text(parsed.netloc)}")
        parts.append("URL_STYLE 'path'")
        parts.append(f"USE_SSL {'true' if parsed.scheme == 'https' else 'false'}")
    connection.execute(f"CREATE SECRET lake_s3 ({', '.join(parts)})")


@contextlib.contextmanager
def writer_lock(lake: Lake, engine: Engine) -> Iterator[None]:
    """Hold the lake's one writer lock; a second writer waits for the first to end.

    A SQLite catalog is locked with a file lock beside it; a PostgreSQL catalog
    with a session advisory lock of ``engine``'s database, held on a connection of
    its own for the whole job.
    """
    path = lake.sqlite_file
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_suffix(".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    name = f"lake:{lake.metadata_schema}".encode()
    key = int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One Parquet file of a table's current snapshot, and the positional deletes on it
    (a Parquet file of ``file_path`` and ``pos``, the row's place in the data file)."""

    data: str
    deletes: str | None


def lake_files(session: duckdb.DuckDBPyConnection, table: str) -> list[LakeFile]:
    """The files another engine reads to see ``table`` as the current snapshot has it.

    Only plain files can be handed over: an encrypted lake is read through DuckDB.
    """
    rows = session.execute(
        "SELECT data_file, delete_file, data_file_encryption_key IS NOT NULL "
        f"FROM ducklake_list_files('{_ALIAS}', ?)",
        [table],
    ).fetchall()
    if any(encrypted for _, _, encrypted in rows):
        raise ConfigurationError(
            f"the lake's table {table} is encrypted; another engine cannot read its files",
            hint='Run the job on DuckDB (bulk_engine = "duckdb").',
        )
    return [
        LakeFile(str(data), None if deletes is None else str(deletes)) for data, deletes, _ in rows
    ]


def add_files(session: duckdb.DuckDBPyConnection, table: str, paths: list[str]) -> None:
    """Register Parquet files another engine wrote as new rows of ``table``, in the open
    transaction. The lake owns them from then on: compaction may rewrite or delete them."""
    for path in paths:
        session.execute(
            f"CALL ducklake_add_data_files('{_ALIAS}', {sql_text(table)}, {sql_text(path)})"
        )
