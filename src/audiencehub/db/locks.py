"""Write locks that bulk jobs take first, so two of them queue instead of colliding.

Two imports of the same file, or two runs applying the same batch, used to meet
in the middle (a unique key violated, a lock timeout) and end as internal
errors. A job now takes its lock at the start of its transaction: on PostgreSQL
a transaction-scoped advisory lock named after the job, which the other job
waits for; on SQLite the database's write lock itself (SQLite has one writer),
waited for up to the busy timeout and then refused with a clear message.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from audiencehub.errors import StorageError

__all__ = ["write_lock"]


def write_lock(connection: Connection, name: str, *, what: str) -> None:
    """Take the write lock ``name`` for the rest of the caller's transaction.

    ``what`` names the job for the message when the lock cannot be had.
    """
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return
    try:
        if not _in_transaction(connection):
            # begins the caller's transaction with the write lock, waiting the busy timeout
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            # a transaction is open: writing the header's user version (unchanged) takes
            # the write lock in it just the same
            version = connection.exec_driver_sql("PRAGMA user_version").scalar_one()
            connection.exec_driver_sql(f"PRAGMA user_version = {int(version)}")
    except OperationalError as exc:
        raise StorageError(
            f"the database is busy with another write, so {what} did not start; "
            "nothing was changed",
            hint="Run it again when the other job (an import, an ingest) has ended.",
        ) from exc


def _in_transaction(connection: Connection) -> bool:
    dbapi = connection.connection.dbapi_connection
    return bool(dbapi is not None and dbapi.in_transaction)
