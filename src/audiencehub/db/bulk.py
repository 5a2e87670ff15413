"""Bulk inserts that skip the ORM's per-row work: COPY on PostgreSQL, executemany on SQLite.

SQLAlchemy's generic executemany spends about 20 microseconds a row building
parameters; these paths convert values once per column with the column types'
own bind processors and hand whole batches to the driver.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    DateTime,
    Dialect,
    Integer,
    LargeBinary,
    String,
    Table,
    text,
)
from sqlalchemy.types import TypeEngine

__all__ = [
    "bulk_insert",
    "inserted_rowids",
    "load_time_default",
    "reserved_id_range",
    "reserved_ids",
    "upsert",
]

# Types each driver stores exactly as SQLAlchemy would, with no conversion (psycopg
# adapts bool and bytes itself: SQLAlchemy's processors would only re-check them).
_NATIVE = (Boolean, Integer, LargeBinary, String)


def _iso_date(value: dt.date | None) -> str | None:
    # SQLAlchemy's SQLite DATE format, by a path several times faster than its own
    return None if value is None else value.isoformat()


def _json(value: Any) -> str | None:
    return None if value is None else "{}" if value == {} else json.dumps(value)


def _repeat_cached(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Reuse the last conversion when the same object comes again (a batch's timestamp)."""
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, processor(value)
        return last[1]

    return convert


def _processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(column_type, _NATIVE):
        return None
    sqlite_date = isinstance(column_type, Date) and not isinstance(column_type, DateTime)
    if dialect.name == "sqlite" and sqlite_date:
        return _iso_date
    if isinstance(column_type, JSON):
        return _json
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def bulk_insert(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``rows`` (value tuples in ``columns`` order) into ``table``, in the open transaction.

    ``constants`` are columns with the same value on every row (timestamps), converted once.
    """
    dialect = connection.dialect
    if constants:
        fixed = tuple(
            (processor(value) if (processor := _processor(table.c[name].type, dialect)) else value)
            for name, value in constants.items()
        )
        plain = rows
        rows = ((*row, *fixed) for row in plain)
        columns = [*columns, *constants]
        processors_for = len(columns) - len(fixed)
    else:
        processors_for = len(columns)
    quote = dialect.identifier_preparer.quote
    column_list = ", ".join(quote(name) for name in columns)
    processors = [_processor(table.c[name].type, dialect) for name in columns[:processors_for]]
    needs = [(i, p) for i, p in enumerate(processors) if p is not None]

    def converted(row: Sequence[Any]) -> Sequence[Any]:
        if not needs:
            return row
        values = list(row)
        for index, processor in needs:
            values[index] = processor(values[index])
        return values

    driver = connection.connection.driver_connection
    if dialect.name == "postgresql":
        statement = f"COPY {quote(table.name)} ({column_list}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(converted(row))
        return
    placeholders = ", ".join("?" for _ in columns)
    cursor = driver.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            f"INSERT INTO {quote(table.name)} ({column_list}) VALUES ({placeholders})",
            (converted(row) for row in rows),
        )
    finally:
        cursor.close()


def inserted_rowids(connection: Connection, count: int) -> range | None:
    """The rowids SQLite gave the ``count`` rows one :func:`bulk_insert` just wrote.

    SQLite gives each row of one executemany, under the transaction's write
    lock, the rowid one above the largest so far: the rows' ids end at
    ``last_insert_rowid()``. ``None`` on other databases (COPY returns nothing),
    where callers look the rows up by key; INSERT .. RETURNING in parameter
    order would cost a statement a row on SQLite.
    """
    if connection.dialect.name != "sqlite":
        return None
    last = int(connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    return range(last - count + 1, last + 1)


def reserved_ids(connection: Connection, table: Table, count: int) -> Sequence[int] | None:
    """Ids for ``count`` rows about to be inserted, drawn from ``table``'s ``id`` sequence.

    PostgreSQL only: COPY returns nothing, so a caller that must know the new
    rows' ids (to write their keys) gives them their ids up front instead of
    looking the rows up again by key afterwards. The ids are drawn one by one
    (no other session can be given one of them) but come back as a range when
    they are contiguous, as they are unless another session drew ids meanwhile.
    ``None`` elsewhere (SQLite numbers the rows itself: see :func:`inserted_rowids`).
    """
    if connection.dialect.name != "postgresql" or count <= 0:
        return None
    # the sequence is found once, not once a row (an init plan)
    drawn = (
        "SELECT nextval((SELECT pg_get_serial_sequence(%(table)s, 'id'))::regclass) AS id "
        "FROM generate_series(1, %(count)s)"
    )
    first, last, scattered = connection.exec_driver_sql(
        f"WITH drawn AS ({drawn}) SELECT min(id), max(id), "
        "CASE WHEN max(id) - min(id) + 1 = count(*) THEN NULL ELSE array_agg(id) END FROM drawn",
        {"table": table.name, "count": count},
    ).one()
    return range(first, last + 1) if scattered is None else [int(i) for i in scattered]


def reserved_id_range(connection: Connection, table: Table, count: int) -> range:
    """``count`` contiguous ids from ``table``'s ``id`` sequence, in one statement (PostgreSQL).

    Only for a caller that holds ``table`` locked exclusively: the sequence is moved
    past the range it draws, so an insert that drew an id meanwhile would collide,
    and the lock keeps every insert out. A million ids one by one
    (:func:`reserved_ids`) took 0.8 s.
    """
    if count <= 0:
        return range(0)
    last = connection.exec_driver_sql(
        "SELECT setval(seq, nextval(seq) + %(count)s - 1) "
        "FROM (SELECT pg_get_serial_sequence(%(table)s, 'id')::regclass AS seq) AS s",
        {"table": table.name, "count": count},
    ).scalar_one()
    return range(int(last) - count + 1, int(last) + 1)


@contextmanager
def load_time_default(
    connection: Connection, table: Table, columns: Sequence[str]
) -> Iterator[None]:
    """The load's time as ``columns``' default while the block COPYs into ``table``
    (PostgreSQL): parsing the same timestamp twice a row cost 1.1 s a million profiles.
    Only for a caller that holds ``table`` locked, so that no other session sees the
    default; the defaults the columns had are put back after."""
    now = dt.datetime.now(dt.UTC).isoformat()
    before = dict(
        connection.execute(
            text(
                "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
                "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                "WHERE a.attrelid = CAST(:table AS regclass) AND a.attname = ANY(:columns)"
            ),
            {"table": table.name, "columns": list(columns)},
        )
        .tuples()
        .all()
    )
    alter = f"ALTER TABLE {table.name} "
    connection.exec_driver_sql(
        alter + ", ".join(f"ALTER COLUMN {c} SET DEFAULT '{now}'::timestamptz" for c in columns)
    )
    yield
    connection.exec_driver_sql(
        alter
        + ", ".join(
            f"ALTER COLUMN {c} DROP DEFAULT"
            if before.get(c) is None
            else f"ALTER COLUMN {c} SET DEFAULT {before[c]}"
            for c in columns
        )
    )


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str] = (),
) -> None:
    """Insert ``rows``; on a key conflict update ``update`` columns (or keep the row as is).

    SQLite and PostgreSQL share the ``ON CONFLICT`` syntax, so one statement is
    handed to the driver's executemany with values converted once per column.
    """
    if not rows:
        return
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    columns = list(rows[0])
    marker = "?" if dialect.name == "sqlite" else "%s"
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
        if update
        else "DO NOTHING"
    )
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(marker for _ in columns)}) "
        f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) {action}"
    )
    processors = [_processor(table.c[name].type, dialect) for name in columns]
    needs = [(i, _repeat_cached(p)) for i, p in enumerate(processors) if p is not None]
    values = []
    for row in rows:
        record = [row[name] for name in columns]
        for index, processor in needs:
            record[index] = processor(record[index])
        values.append(record)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(statement, values)
    finally:
        cursor.close()
