"""Rows COPY'd from DuckDB into PostgreSQL in the binary format: each type as it is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import duckdb
import pytest
from sqlalchemy import create_engine, text

from audiencehub.engines.pg_copy import copy_to_postgresql, one_core_left

pytestmark = pytest.mark.postgres

_TABLE = """
    CREATE TABLE landed (
        id bigint, small smallint, count integer, flag boolean, born date,
        digest bytea, name varchar(8), note text, attributes json, ratio double precision,
        at timestamp with time zone
    )
"""
_COLUMNS = [
    "id", "small", "count", "flag", "born", "digest", "name", "note", "attributes", "ratio", "at",
]  # fmt: skip


def test_every_type_lands_as_the_query_gives_it(pg_url):
    """Values of DuckDB types that differ from the columns' (an INTEGER into a bigint, a
    text into a date) are cast to the column's type first; NULLs stay NULL; a digest is
    stored as its bytes, not as their hex text."""
    engine = create_engine(pg_url)
    db = duckdb.connect()
    digest = hashlib.sha256(b"ada@example.com").digest()
    query = """
        SELECT * FROM (VALUES
            (1::INTEGER, 2, 3, true, '1968-01-18', unhex(sha256('ada@example.com')), 'Zoë',
             'a "quoted", line', '{"tier": "gold"}', 0.5,
             TIMESTAMPTZ '2026-12-03 10:00:00+00'),
            (9000000000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}', NULL, NULL)
        )
    """
    with engine.begin() as connection:
        connection.execute(text(_TABLE))
        copy_to_postgresql(connection, db, "landed", _COLUMNS, query)
        rows = connection.execute(
            text("SELECT *, attributes::text AS raw FROM landed ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [
        (
            1, 2, 3, True, dt.date(1968, 1, 18), digest, "Zoë", 'a "quoted", line',
            {"tier": "gold"}, 0.5, dt.datetime(2026, 12, 3, 10, tzinfo=dt.UTC),
            '{"tier": "gold"}',
        ),
        (9000000000, None, None, None, None, None, None, None, {}, None, None, "{}"),
    ]  # fmt: skip
    engine.dispose()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT range, 'fits' FROM range(100000) UNION ALL SELECT 100000, 'too long a name'",
        # refused at once, with millions of rows still to make
        "SELECT 0, 'too long a name' UNION ALL SELECT range + 1, 'fits' FROM range(3000000)",
    ],
    ids=["last row", "first row"],
)
def test_a_value_the_column_refuses_rolls_the_copy_back(pg_url, query):
    """PostgreSQL's own checks hold on the binary format: a name over the column's
    length is refused with its error, and the transaction keeps none of the rows.

    The rows are made by a thread of their own while earlier ones are sent: refused at
    the first row, that thread stops too, and the DuckDB session goes on."""
    engine = create_engine(pg_url)
    db = duckdb.connect()
    with engine.begin() as connection:
        connection.execute(text(_TABLE))
    with pytest.raises(Exception, match="too long"), engine.begin() as connection:
        copy_to_postgresql(connection, db, "landed", ["id", "name"], query)
    assert not [t for t in threading.enumerate() if t.name == "copy-out-encoder"]
    assert db.execute("SELECT 42").fetchone() == (42,)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM landed")).scalar_one() == 0
    engine.dispose()


def test_a_column_of_a_type_it_does_not_send_is_refused_before_copying(pg_url):
    """A column whose binary form is not written here (jsonb carries a version byte) is
    named in the error, before any row is sent; so is a column the table lacks."""
    engine = create_engine(pg_url)
    db = duckdb.connect()
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE other (id bigint, doc jsonb)"))
        with pytest.raises(TypeError, match=r"other\.doc \(jsonb\)"):
            copy_to_postgresql(connection, db, "other", ["id", "doc"], "SELECT 1, '{}'")
        with pytest.raises(TypeError, match=r"other\.nothing \(no such column\)"):
            copy_to_postgresql(connection, db, "other", ["nothing"], "SELECT 1")
    engine.dispose()


def test_a_failing_query_leaves_the_duckdb_session_usable(pg_url):
    """A query that fails in DuckDB raises its error; the session it ran on goes on."""
    engine = create_engine(pg_url)
    db = duckdb.connect()
    db.execute("CREATE TABLE numbers AS SELECT range AS n FROM range(10)")
    with engine.begin() as connection:
        connection.execute(text(_TABLE))
    with pytest.raises(duckdb.Error), engine.begin() as connection:
        copy_to_postgresql(
            connection, db, "landed", ["id"], "SELECT CAST('x' || n AS BIGINT) FROM numbers"
        )
    assert db.execute("SELECT count(*) FROM numbers").fetchone() == (10,)
    engine.dispose()


@pytest.mark.parametrize(("cores", "inside"), [(2, 1), (1, 1), (4, 3)])
def test_duckdb_leaves_a_core_to_postgresql_while_it_stores_the_rows(cores, inside):
    """While PostgreSQL's backend takes in the rows, DuckDB keeps to all cores but one (one
    at least), then has them all again, even when the block fails."""
    db = duckdb.connect(config={"threads": cores})
    threads = "SELECT current_setting('threads')"
    with one_core_left(db, cores):
        assert db.execute(threads).fetchone() == (inside,)
    assert db.execute(threads).fetchone() == (cores,)
    with pytest.raises(RuntimeError), one_core_left(db, cores):
        raise RuntimeError("the COPY failed")
    assert db.execute(threads).fetchone() == (cores,)
