"""Loading a large batch into empty tables with their indexes built afterwards.

PostgreSQL keeps every index of a table up to date row by row as rows arrive.
For rows in random order (emails, digests) each one lands on another page of
the B-tree, compared with the column's collation all the way down: a million
profiles COPY'd with their three indexes took 9.5 s here against 2.0 s with
none, and building the three indexes afterwards, one sorted pass each, took
2.8 s. Restoring a dump does the same ("Populating a Database" in the
PostgreSQL manual advises it).

Dropping an index takes an ``ACCESS EXCLUSIVE`` lock on its table until the
transaction ends: no one reads the table meanwhile. So this is only for a first
load into empty tables (nothing to read yet), in the loading transaction: when
the load fails, the rollback brings the indexes back with the rows gone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, text

__all__ = ["indexes_built_after", "lock_exclusively", "may_rebuild"]

# Memory each index build sorts in before spilling; a million emails need about 60 MB.
_BUILD_MEMORY = "256MB"


@dataclass(frozen=True)
class _Index:
    """An index or index-backed constraint as the catalog defines it, to drop and rebuild."""

    table: str
    name: str
    definition: str  # CREATE INDEX ..., or the constraint's definition
    constraint: bool


def may_rebuild(connection: Connection, tables: Sequence[str]) -> bool:
    """Whether this account may drop and build the indexes of ``tables``: only their
    owner may (an account granted reads and writes alone loads row by row instead)."""
    owned = connection.execute(
        text(
            "SELECT count(*) FILTER (WHERE pg_has_role(current_user, relowner, 'USAGE')), "
            "count(*) FROM pg_class "
            "WHERE relname = ANY(:tables) AND relnamespace = current_schema()::regnamespace "
            "AND relkind = 'r'"
        ),
        {"tables": list(tables)},
    ).one()
    return bool(owned[0] == owned[1] == len(tables))


def lock_exclusively(connection: Connection, tables: Sequence[str]) -> None:
    """Lock ``tables`` against every other session until the transaction ends."""
    names = ", ".join(connection.dialect.identifier_preparer.quote(t) for t in tables)
    connection.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")


def _indexes(connection: Connection, tables: Sequence[str]) -> list[_Index]:
    """The indexes of ``tables`` that no foreign key depends on (a referenced primary
    key stays: dropping it would drop the other table's foreign key)."""
    rows = connection.execute(
        text(
            """
            SELECT t.relname, i.relname, c.conname IS NOT NULL,
                   coalesce(pg_get_constraintdef(c.oid), pg_get_indexdef(x.indexrelid))
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_class i ON i.oid = x.indexrelid
            LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = t.oid
            WHERE t.relname = ANY(:tables) AND t.relnamespace = current_schema()::regnamespace
              AND NOT EXISTS (
                  SELECT 1 FROM pg_constraint f
                  WHERE f.contype = 'f' AND f.conindid = x.indexrelid
              )
            ORDER BY t.relname, i.relname
            """
        ),
        {"tables": list(tables)},
    )
    return [
        _Index(table, name, definition, bool(is_constraint))
        for table, name, is_constraint, definition in rows
    ]


@contextmanager
def indexes_built_after(connection: Connection, tables: Sequence[str]) -> Iterator[None]:
    """Drop the indexes of ``tables`` (PostgreSQL), run the load, build them again.

    The caller holds an exclusive lock on ``tables`` (:func:`lock_exclusively`)
    for its transaction. A unique index rebuilt over rows that break it raises
    the database's error, and the transaction rolls back whole.
    """
    quote = connection.dialect.identifier_preparer.quote
    indexes = _indexes(connection, tables)
    for index in indexes:
        if index.constraint:
            connection.exec_driver_sql(
                f"ALTER TABLE {quote(index.table)} DROP CONSTRAINT {quote(index.name)}"
            )
        else:
            connection.exec_driver_sql(f"DROP INDEX {quote(index.name)}")
    yield
    connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{_BUILD_MEMORY}'")
    for index in indexes:
        if index.constraint:
            connection.exec_driver_sql(
                f"ALTER TABLE {quote(index.table)} ADD CONSTRAINT {quote(index.name)} "
                f"{index.definition}"
            )
        else:
            connection.exec_driver_sql(index.definition)
