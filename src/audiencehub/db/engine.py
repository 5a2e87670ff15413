"""SQLAlchemy engines for SQLite (embedded) and PostgreSQL, configured for their job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from audiencehub.files import private_dir, touch_private

__all__ = ["create_db_engine"]


def _sqlite_pragmas(dbapi_connection: Any, lock_timeout_ms: int) -> None:
    # WAL lets readers run beside the one writer; NORMAL sync is durable at
    # checkpoints and several times faster for bulk imports.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_ms)}")
    cursor.execute("PRAGMA temp_store=MEMORY")
    # 128 MB of page cache: random-order index inserts (hashes, emails) thrash
    # the 2 MB default once an index outgrows it; a million profiles need ~100 MB.
    cursor.execute("PRAGMA cache_size=-131072")
    cursor.close()


def _begin_before_savepoint(connection: Connection, _name: str | None) -> None:
    """Open the real transaction a savepoint belongs to.

    The sqlite3 module (in its legacy transaction mode) begins a transaction only
    before a data change, not before ``SAVEPOINT``; a savepoint opened first
    thus started a transaction of its own, which ``RELEASE`` committed, and the
    outer rollback no longer undid it. Beginning here makes nested work atomic
    with its transaction, as it is on PostgreSQL.
    """
    dbapi = connection.connection.dbapi_connection
    if dbapi is not None and not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN")


DEFAULT_LOCK_TIMEOUT_MS = 30_000


def create_db_engine(url: str, *, lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> Engine:
    """An engine for ``url``; SQLite files get WAL mode and foreign keys.

    ``lock_timeout_ms`` is how long a statement waits for a lock another
    transaction holds (SQLite's busy timeout, PostgreSQL's ``lock_timeout``): long
    for jobs, a few milliseconds for online writes, which spool instead of waiting.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            database = Path(parsed.database)
            private_dir(database.parent)
            touch_private(database)  # owner-only from the start; SQLite gives -wal/-shm its mode
        engine = create_engine(url)
        event.listen(
            engine,
            "connect",
            lambda dbapi_connection, _record: _sqlite_pragmas(dbapi_connection, lock_timeout_ms),
        )
        event.listen(engine, "savepoint", _begin_before_savepoint)
        return engine
    if lock_timeout_ms == DEFAULT_LOCK_TIMEOUT_MS:
        return create_engine(url, pool_pre_ping=True)
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"options": f"-c lock_timeout={int(lock_timeout_ms)}"},
    )
