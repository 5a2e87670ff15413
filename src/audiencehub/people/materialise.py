"""Segments materialised: who holds each segment (:mod:`.segment_evaluation`), written
to the lake as one snapshot, with each segment's size stored beside its definition.

The sizes the CLI, the API and the pages show are the ones found here; the
memberships themselves stay in the lake, where any snapshot can be read again
(:func:`segment_at`, :func:`ids_at`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
from sqlalchemy import Engine, select, update

from audiencehub.engines.session import BatchSession
from audiencehub.engines.spark import SparkBatch
from audiencehub.errors import NotFound
from audiencehub.people.lake import commit, reading, snapshot_at, sync_users, writing
from audiencehub.people.schema import segments
from audiencehub.people.segment_evaluation import Evaluation, evaluate
from audiencehub.people.segment_rules import parse_rule
from audiencehub.people.segment_sizes import record_sizes
from audiencehub.people.spark_lake import job_session, registered, write_rows

__all__ = ["SegmentAt", "ids_at", "materialise", "segment_at"]


def _segment_rows(engine: Engine, segment_ids: Sequence[int] | None) -> list[Any]:
    query = select(segments.c.id, segments.c.rule, segments.c.merge_rule)
    if segment_ids is not None:
        query = query.where(segments.c.id.in_(list(segment_ids)))
    with engine.connect() as connection:
        return list(connection.execute(query.order_by(segments.c.id)))


def materialise(
    engine: Engine,
    session: duckdb.DuckDBPyConnection | None = None,
    segment_ids: Sequence[int] | None = None,
) -> dict[int, int]:
    """Materialise the segments (all, or ``segment_ids``) as one lake snapshot, store their
    sizes with them, and return those sizes. ``session`` is a lake opened for writing."""
    with contextlib.ExitStack() as stack:
        if session is None:
            session = stack.enter_context(writing(engine))
        return _materialise(engine, session, segment_ids)


def _materialise(
    engine: Engine, session: duckdb.DuckDBPyConnection, segment_ids: Sequence[int] | None
) -> dict[int, int]:
    rows = _segment_rows(engine, segment_ids)
    evaluations = [Evaluation(row.id, parse_rule(row.rule), row.merge_rule) for row in rows]
    sync_users(engine, session)  # the IDs an ingest of this session created
    ids = ", ".join(str(row.id) for row in rows) or "NULL"
    sizes = {row.id: 0 for row in rows}
    with contextlib.ExitStack() as stack:
        work = stack.enter_context(contextlib.closing(session.cursor()))
        run, tables = stack.enter_context(
            job_session(engine, work, ["realisations", "graph_users"])
        )
        spark = run if isinstance(run, SparkBatch) else None
        files: list[str] = []
        if spark is not None:  # on Spark before the transaction; its rows become lake files
            evaluate(engine, spark, evaluations, copied=True, tables=tables)
            _count(spark, "evaluated", ids, sizes)
            if any(sizes.values()):
                query = "SELECT segment_id, user_id FROM evaluated"
                files = write_rows(engine, spark, "memberships", query)
        work.execute("BEGIN")
        if segment_ids is None:
            work.execute("DELETE FROM lake.memberships")
        else:
            work.execute(f"DELETE FROM lake.memberships WHERE segment_id IN ({ids})")
        if spark is None:  # straight into the lake table, in the same transaction
            evaluate(engine, run, evaluations, copied=True, target="lake.memberships")
            _count(run, "lake.memberships", ids, sizes)
        stack.enter_context(registered(work, "memberships", files))
        commit(work, "segments materialised: " + ", ".join(map(str, sizes)))
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for segment_id, size in sizes.items():
            connection.execute(
                update(segments).where(segments.c.id == segment_id).values(size=size, sized_at=now)
            )
        record_sizes(connection, sizes, now)
    return sizes


def _count(run: BatchSession, members: str, ids: str, sizes: dict[int, int]) -> None:
    """Fill ``sizes`` with the members of segments ``ids`` that the relation ``members``
    holds (every segment not in it holds none)."""
    sizes.update(
        (int(segment), int(count))
        for segment, count in run.rows(
            f"SELECT segment_id, count(*) FROM {members} "
            f"WHERE segment_id IN ({ids}) GROUP BY segment_id"
        )
    )


@dataclass(frozen=True)
class SegmentAt:
    """What a segment held at a moment: its last materialisation before it."""

    segment_id: int
    moment: str  # as asked, ISO 8601
    snapshot: int  # the lake snapshot read
    snapshot_time: str  # when that snapshot was committed (ISO 8601, UTC)
    size: int


def segment_at(engine: Engine, segment_id: int, moment: datetime) -> SegmentAt:
    """What the segment held at ``moment`` (UTC when it names no zone): the lake's snapshot
    then, and the segment's size in it. A segment deleted since is answered too (an
    audit may ask after it); one that never was holds nothing."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    with reading(engine) as session:
        found = snapshot_at(session, moment)
        if found is None:
            raise NotFound(
                f"the people lake has no snapshot at or before {moment.isoformat()}",
                hint="Ask for a later moment; older snapshots expire after the lake's history.",
            )
        snapshot, committed = found
        [(size,)] = session.execute(
            f"SELECT count(*) FROM lake.memberships AT (VERSION => {snapshot}) "
            "WHERE segment_id = ?",
            [segment_id],
        ).fetchall()
    return SegmentAt(segment_id, moment.isoformat(), snapshot, committed, int(size))


# IDs fetched from the lake at a time when a segment's members are read out
_ID_BATCH = 10_000


def ids_at(engine: Engine, held: SegmentAt) -> Iterator[str]:
    """The IDs of ``held`` (:func:`segment_at`) as the graph names them now (an ID forgotten
    since is left out), in order, a batch at a time: a segment of millions is streamed,
    not gathered (the snapshot is fixed, so nothing written meanwhile changes them)."""
    with reading(engine) as session:
        cursor = session.execute(
            "SELECT g.external_id "
            f"FROM (SELECT * FROM lake.memberships AT (VERSION => {int(held.snapshot)})) m "
            "JOIN lake.graph_users g ON g.id = m.user_id WHERE m.segment_id = ? "
            "ORDER BY g.external_id",
            [held.segment_id],
        )
        while batch := cursor.fetchmany(_ID_BATCH):
            yield from (row[0] for row in batch)
