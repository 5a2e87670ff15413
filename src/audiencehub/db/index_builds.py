"""Loading a large batch into empty tables with their indexes built afterwards.

PostgreSQL keeps every index of a table up to date row by row as rows arrive.
For rows in random order (emails, digests) each one lands on another page of
the B-tree, compared with the column's collation all the way down: a million
profiles COPY'd with their three indexes took 9.5 s here against 2.0 s with
none, and building the three indexes afterwards, one sorted pass each, took
2.8 s. Restoring a dump does the same ("Populating a Database" in the
PostgreSQL manual advises it).

The primary key goes too, though other tables' foreign keys stand on it: kept up
during the COPY of a million profiles it cost 1.6 to 3 s, for ids in ascending
runs, against 0.5 to 0.6 s built after. Those foreign keys are dropped with it
and added again once it stands, which checks them in one query; their tables
reference rows of an empty table, so they hold none that could break them.

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

__all__ = ["indexes_built_after", "lock_exclusively", "may_rebuild", "referring_tables"]

# Memory each index build sorts in before spilling; a million emails need about 60 MB.
_BUILD_MEMORY = "256MB"


@dataclass(frozen=True)
class _Index:
    """An index or a constraint as the catalog defines it, to drop and build again."""

    table: str  # as SQL names it from here (quoted, with its schema when another)
    name: str
    definition: str  # CREATE INDEX ..., or the constraint's definition
    constraint: bool


# The foreign keys that refer to the tables named :tables of the current schema, with
# the table each stands on (``r``, from any schema) and the table it refers to (``t``).
_REFERRING = """
    FROM pg_constraint f
    JOIN pg_class r ON r.oid = f.conrelid
    JOIN pg_class t ON t.oid = f.confrelid
    WHERE f.contype = 'f' AND t.relname = ANY(:tables)
      AND t.relnamespace = current_schema()::regnamespace
"""


def referring_tables(connection: Connection, tables: Sequence[str]) -> list[str]:
    """The other tables whose foreign keys refer to ``tables`` (PostgreSQL), each named as
    SQL names it from here (quoted, and with its schema when it is another)."""
    return list(
        connection.execute(
            text(
                f"SELECT DISTINCT r.oid::regclass::text {_REFERRING} "
                "AND NOT (r.relname = ANY(:tables) AND r.relnamespace = t.relnamespace) "
                "ORDER BY 1"
            ),
            {"tables": list(tables)},
        ).scalars()
    )


def may_rebuild(connection: Connection, tables: Sequence[str]) -> bool:
    """Whether this account may drop and build the indexes of ``tables``, and the foreign
    keys that refer to them: only the tables' owner may (an account granted reads and
    writes alone loads row by row instead)."""
    owned = connection.execute(
        text(
            "SELECT count(*) FILTER (WHERE pg_has_role(current_user, relowner, 'USAGE')), "
            "count(*) FROM pg_class "
            "WHERE relname = ANY(:tables) AND relnamespace = current_schema()::regnamespace "
            "AND relkind = 'r'"
        ),
        {"tables": list(tables)},
    ).one()
    [others_owned] = connection.execute(
        text(
            "SELECT coalesce(bool_and(pg_has_role(current_user, r.relowner, 'USAGE')), true) "
            + _REFERRING
        ),
        {"tables": list(tables)},
    ).one()
    return bool(owned[0] == owned[1] == len(tables) and others_owned)


def lock_exclusively(connection: Connection, tables: Sequence[str]) -> None:
    """Lock ``tables``, and the tables whose foreign keys refer to them, against every
    other session until the transaction ends.

    The referring tables are locked first, as a session writing one of them does (it
    locks its table, then checks the referred row): the two wait in turn, and never on
    each other.
    """
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join([*referring_tables(connection, tables), *map(quote, tables)])
    connection.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")


def _indexes(connection: Connection, tables: Sequence[str]) -> list[_Index]:
    """The indexes of ``tables``, primary keys and unique constraints included."""
    rows = connection.execute(
        text(
            """
            SELECT t.oid::regclass::text, i.relname, c.conname IS NOT NULL,
                   coalesce(pg_get_constraintdef(c.oid), pg_get_indexdef(x.indexrelid))
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_class i ON i.oid = x.indexrelid
            LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = t.oid
            WHERE t.relname = ANY(:tables) AND t.relnamespace = current_schema()::regnamespace
            ORDER BY t.relname, i.relname
            """
        ),
        {"tables": list(tables)},
    )
    return [
        _Index(table, name, definition, bool(is_constraint))
        for table, name, is_constraint, definition in rows
    ]


def _foreign_keys(connection: Connection, tables: Sequence[str]) -> list[_Index]:
    """The foreign keys that refer to ``tables``: each stands on an index dropped here."""
    rows = connection.execute(
        text(
            "SELECT r.oid::regclass::text, f.conname, pg_get_constraintdef(f.oid) "
            f"{_REFERRING} ORDER BY 1, 2"
        ),
        {"tables": list(tables)},
    )
    return [_Index(table, name, definition, True) for table, name, definition in rows]


@contextmanager
def indexes_built_after(connection: Connection, tables: Sequence[str]) -> Iterator[None]:
    """Drop the indexes of ``tables`` (PostgreSQL), run the load, build them again.

    The caller holds an exclusive lock on ``tables`` and the tables referring to them
    (:func:`lock_exclusively`) for its transaction. A unique index rebuilt over rows
    that break it raises the database's error, and the transaction rolls back whole.
    """
    quote = connection.dialect.identifier_preparer.quote
    foreign = _foreign_keys(connection, tables)
    indexes = _indexes(connection, tables)
    for index in (*foreign, *indexes):
        if index.constraint:
            connection.exec_driver_sql(
                f"ALTER TABLE {index.table} DROP CONSTRAINT {quote(index.name)}"
            )
        else:
            connection.exec_driver_sql(f"DROP INDEX {quote(index.name)}")
    yield
    connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{_BUILD_MEMORY}'")
    for index in (*indexes, *foreign):  # a foreign key needs the index it stands on
        if index.constraint:
            connection.exec_driver_sql(
                f"ALTER TABLE {index.table} ADD CONSTRAINT {quote(index.name)} {index.definition}"
            )
        else:
            connection.exec_driver_sql(index.definition)
