"""The people service's bulk state, kept in a DuckLake (see :mod:`audiencehub.engines.lake`).

Tables of the lake:

- ``realisations``: which user holds which trait since when (onboarded and rule traits);
- ``signals``: each user's key-values, every value of a key as written;
- ``memberships``: the segments as last materialised (:mod:`audiencehub.people.materialise`);
- ``published``: what each destination holds since its last publication;
- ``batches``: every inbound batch applied, with its receipt, committed in the same
  snapshot as its data (the control plane's receipt table is filled from it);
- ``graph_users``: a copy of the graph's users (id, namespace, external ID), brought
  up to date at the start of every job (:func:`sync_users`), so that a batch's IDs
  are resolved by a join in DuckDB instead of reading the whole table each time.

Users are the control plane's user ids: the ID graph (users, links, opt-outs)
stays in the people database, where ``/id`` writes it online, and a job reads
it in bulk. Every write goes through :func:`writing`, which holds the lake's one
writer lock and commits one snapshot; :func:`reading` sees committed snapshots.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from sqlalchemy import Engine, MetaData, Table, func, inspect, select, text

from audiencehub.engines import extract
from audiencehub.engines.bulk_settings import scratch_of
from audiencehub.engines.lake import Lake, lake_of, open_lake, writer_lock
from audiencehub.files import scratch_folder
from audiencehub.people.schema import users
from audiencehub.workspace import PEOPLE_LAKE

__all__ = [
    "IN_DUCKDB",
    "LEGACY_TABLES",
    "TABLES",
    "Compaction",
    "LakeTables",
    "Snapshot",
    "commit",
    "compact",
    "delete_rows",
    "history",
    "lake_for",
    "move_legacy_rows",
    "reading",
    "snapshot_at",
    "sync_users",
    "writing",
]

TABLES = {
    "realisations": "user_id BIGINT NOT NULL, trait_id INTEGER NOT NULL, "
    "realized_at TIMESTAMPTZ NOT NULL",
    "signals": "user_id BIGINT NOT NULL, key VARCHAR NOT NULL, value_list VARCHAR[] NOT NULL",
    "memberships": "segment_id INTEGER NOT NULL, user_id BIGINT NOT NULL",
    "published": "destination_id INTEGER NOT NULL, segment_id INTEGER NOT NULL, "
    "member VARCHAR NOT NULL",
    "batches": "batch VARCHAR NOT NULL, receipt VARCHAR NOT NULL, "
    "processed_at TIMESTAMPTZ NOT NULL",
    "graph_users": "id BIGINT NOT NULL, ns INTEGER NOT NULL, external_id VARCHAR NOT NULL",
}

#: the control-plane tables that held the bulk state before the lake (migration p0012
#: renamed them), and the lake table each one's rows move to
LEGACY_TABLES = {
    "people_legacy_user_traits": "realisations",
    "people_legacy_user_signals": "signals",
    "people_legacy_published": "published",
}


@dataclass(frozen=True)
class LakeTables:
    """Where a bulk session reads the lake's tables: through DuckDB's attached lake, or
    as Spark reads their files (:mod:`audiencehub.people.spark_lake`)."""

    realisations: str
    graph_users: str
    published: str
    signals: str


IN_DUCKDB = LakeTables("lake.realisations", "lake.graph_users", "lake.published", "lake.signals")


def lake_for(engine: Engine) -> Lake:
    """The lake of the people database behind ``engine``."""
    return lake_of(engine, name=PEOPLE_LAKE)


def _ready(session: duckdb.DuckDBPyConnection) -> bool:
    [(count,)] = session.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'lake'"
    ).fetchall()
    return int(count) == len(TABLES)


def _create(session: duckdb.DuckDBPyConnection) -> None:
    if _ready(session):
        return
    session.execute("BEGIN")
    for name, columns in TABLES.items():
        session.execute(f"CREATE TABLE IF NOT EXISTS lake.{name} ({columns})")
    commit(session, "the people lake's tables")


def _has_legacy(engine: Engine) -> bool:
    with engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
    return bool(names & set(LEGACY_TABLES))


@contextlib.contextmanager
def _session(
    engine: Engine, lake: Lake, scratch: Path | None
) -> Iterator[duckdb.DuckDBPyConnection]:
    with scratch_folder(scratch_of(engine, scratch), "people-lake") as folder:
        session = open_lake(lake, Path(folder))
        try:
            yield session
        finally:
            session.close()


@contextlib.contextmanager
def writing(engine: Engine, *, scratch: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The lake, opened by its one writer: another writer waits until this one ends.

    The caller begins and commits (:func:`commit`) its own transactions; what it
    leaves uncommitted is rolled back.
    """
    lake = lake_for(engine)
    with writer_lock(lake, engine), _session(engine, lake, scratch) as session:
        _create(session)
        if _has_legacy(engine):
            _move_legacy(engine, session)
        sync_users(engine, session)
        yield session


@contextlib.contextmanager
def reading(engine: Engine, *, scratch: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The lake, for reading committed snapshots (created first if it does not exist)."""
    lake = lake_for(engine)
    with _session(engine, lake, scratch) as session:
        if _ready(session) and not _has_legacy(engine):
            yield session
            return
    with writing(engine, scratch=scratch) as session:
        yield session


# how far below the copy's highest id a sync looks again: on PostgreSQL a user whose
# transaction took an id before another's may commit after it
_SYNC_MARGIN = 10_000


def sync_users(engine: Engine, session: duckdb.DuckDBPyConnection, *, verify: bool = False) -> None:
    """Bring the lake's copy of the graph's users up to date, as one snapshot.

    Users are only ever added (with growing ids) except by retention, which deletes
    them from the copy too: the new ones are those above the copy's highest id (and a
    margin below it, for ids committed out of order), found from ``max(id)`` alone.
    ``verify`` also compares the counts (a full pass over the users; compaction does it
    daily) and makes the copy again whole if they disagree.
    """
    [(top,)] = session.execute("SELECT coalesce(max(id), 0) FROM lake.graph_users").fetchall()
    with engine.connect() as connection:
        [(highest,)] = connection.execute(select(func.coalesce(func.max(users.c.id), 0))).all()
    columns = select(users.c.id, users.c.data_source_id.label("ns"), users.c.external_id)
    if highest != top:
        session.register(
            "new_users", extract(engine, columns.where(users.c.id > top - _SYNC_MARGIN))
        )
        session.execute("BEGIN")
        session.execute(
            "INSERT INTO lake.graph_users SELECT id, ns, external_id FROM new_users n "
            f"WHERE n.id > {int(top)} OR NOT EXISTS "
            "(SELECT 1 FROM lake.graph_users g WHERE g.id = n.id)"
        )
        commit(session, "graph users copied")
        session.unregister("new_users")
    if not verify:
        return
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(users)).scalar_one()
    [(copied,)] = session.execute("SELECT count(*) FROM lake.graph_users").fetchall()
    if total != copied:
        session.register("all_users", extract(engine, columns))
        session.execute("BEGIN")
        session.execute("DELETE FROM lake.graph_users")
        session.execute("INSERT INTO lake.graph_users SELECT id, ns, external_id FROM all_users")
        commit(session, "graph users copied whole")
        session.unregister("all_users")


def delete_rows(engine: Engine, table: str, column: str, value: int, *, why: str) -> None:
    """Delete the rows of a lake table whose ``column`` is ``value``, as one snapshot."""
    with writing(engine) as session:
        session.execute("BEGIN")
        session.execute(f"DELETE FROM lake.{table} WHERE {column} = ?", [value])
        commit(session, why)


def commit(session: duckdb.DuckDBPyConnection, message: str) -> None:
    """Commit the open transaction as one snapshot, saying what it was."""
    session.execute("CALL lake.set_commit_message('audiencehub', ?)", [message])
    session.execute("COMMIT")


def snapshot_at(session: duckdb.DuckDBPyConnection, moment: datetime) -> tuple[int, str] | None:
    """The snapshot current at ``moment`` (id, commit time), or None before the first one."""
    row = session.execute(
        "SELECT snapshot_id, strftime(snapshot_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') "
        "FROM lake.snapshots() WHERE snapshot_time <= ? ORDER BY snapshot_id DESC LIMIT 1",
        [moment],
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def move_legacy_rows(engine: Engine) -> list[str]:
    """Move the rows a workspace made before the lake kept in its database into the lake
    now (``audiencehub db upgrade``); returns the tables moved."""
    with engine.connect() as connection:
        present = sorted(set(inspect(connection).get_table_names()) & set(LEGACY_TABLES))
    if present:
        with writing(engine):
            pass  # opening it moves them
    return present


def _move_legacy(engine: Engine, session: duckdb.DuckDBPyConnection) -> None:
    """Move the rows a workspace kept in its database before the lake into the lake.

    One snapshot takes every row (those already in the lake are not added twice),
    then the old tables are dropped: a move cut short is simply done again.
    """
    with engine.connect() as connection:
        present = set(inspect(connection).get_table_names()) & set(LEGACY_TABLES)
    metadata = MetaData()
    session.execute("BEGIN")
    for legacy in sorted(present):
        table = Table(legacy, metadata, autoload_with=engine)
        rows = extract(engine, select(table))
        session.register("legacy_rows", rows)
        target = LEGACY_TABLES[legacy]
        if target == "realisations":
            source = (
                "SELECT user_id::BIGINT AS user_id, trait_id::INTEGER AS trait_id, "
                "CAST(realized_at AS TIMESTAMP)::TIMESTAMPTZ AS realized_at FROM legacy_rows"
            )
            keys: tuple[str, ...] = ("user_id", "trait_id")
        elif target == "signals":
            source = (
                "SELECT user_id::BIGINT AS user_id, key, "
                "CAST(value_list AS JSON)::VARCHAR[] AS value_list FROM legacy_rows"
            )
            keys = ("user_id", "key")
        else:
            source = "SELECT destination_id, segment_id, member FROM legacy_rows"
            keys = ("destination_id", "segment_id", "member")
        match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        session.execute(
            f"INSERT INTO lake.{target} SELECT * FROM ({source}) s "
            f"WHERE NOT EXISTS (SELECT 1 FROM lake.{target} t WHERE {match})"
        )
        session.unregister("legacy_rows")
    commit(session, "rows moved from the people database into the lake")
    with engine.begin() as connection:
        for legacy in sorted(present):
            connection.execute(text(f"DROP TABLE IF EXISTS {legacy}"))


@dataclass(frozen=True)
class Compaction:
    """What one compaction of the lake did."""

    files_merged: int  # small data files rewritten into larger ones
    snapshots_expired: int  # snapshots older than the history kept
    files_deleted: int  # files no snapshot needs any more, removed
    history_days: int
    orphans_deleted: int = 0  # files in the lake's folder no snapshot ever named


def compact(engine: Engine, history_days: int, now: datetime | None = None) -> Compaction:
    """Merge small files, expire the snapshots older than ``history_days`` and delete the
    files none of the remaining snapshots reads. (Each ingest batch and publication adds
    a few files; without this a lake slows down and grows with every run.) Files no
    snapshot ever named are deleted too: those of a job cut short between writing and
    committing (Spark's, on S3, where its own failure cannot remove them). The writer
    lock held here means no job is writing such files now."""
    moment = now or datetime.now(UTC)
    with writing(engine) as session:
        sync_users(engine, session, verify=True)  # a user the copy missed is found here
        [(merged,)] = session.execute(
            "SELECT coalesce(sum(files_processed), 0) FROM ducklake_merge_adjacent_files('lake')"
        ).fetchall()
        [(expired,)] = session.execute(
            "SELECT count(*) FROM ducklake_expire_snapshots('lake', older_than => ?::TIMESTAMPTZ)",
            [moment - timedelta(days=history_days)],
        ).fetchall()
        [(deleted,)] = session.execute(
            "SELECT count(*) FROM ducklake_cleanup_old_files('lake', cleanup_all => true)"
        ).fetchall()
        [(orphans,)] = session.execute(
            "SELECT count(*) FROM ducklake_delete_orphaned_files('lake', cleanup_all => true)"
        ).fetchall()
    return Compaction(int(merged), int(expired), int(deleted), history_days, int(orphans))


@dataclass(frozen=True)
class Snapshot:
    """One commit of the lake."""

    snapshot: int
    committed_at: str  # ISO 8601, UTC
    message: str


def history(engine: Engine, limit: int = 20) -> list[Snapshot]:
    """The lake's latest snapshots, newest first: what each commit was."""
    with reading(engine) as session:
        rows = session.execute(
            "SELECT snapshot_id, "
            "strftime(snapshot_time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ'), "
            "coalesce(commit_message, '') FROM lake.snapshots() "
            "ORDER BY snapshot_id DESC LIMIT ?",
            [limit],
        ).fetchall()
    return [Snapshot(int(s), str(t), str(m)) for s, t, m in rows]
