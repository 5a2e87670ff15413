"""Segments' sizes day by day: the population trend a segment's page draws and the API
and the command line list.

Each materialisation writes the day's row of every segment it sized (a later one
the same day replaces it), in the people database beside the segments: a
trend of a year is a few hundred rows per segment, where counting the members
of each of the lake's snapshots would read every one of them again, and the
lake's history expires long before a year.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, delete, select
from typing_extensions import TypedDict

from audiencehub.db.bulk import upsert
from audiencehub.people.schema import segment_sizes

__all__ = [
    "HISTORY_DAYS",
    "SegmentSize",
    "forget_sizes",
    "record_sizes",
    "size_history",
    "trend_start",
]

#: how many days of sizes a segment keeps
HISTORY_DAYS = 400


class SegmentSize(TypedDict):
    """A segment's size on a day: its last materialisation that day (UTC)."""

    day: date
    size: int
    sized_at: datetime


def record_sizes(connection: Connection, sizes: Mapping[int, int], now: datetime) -> None:
    """Write today's size of each segment of ``sizes`` and prune what is older than the
    history kept (their rows alone: by key, so a materialisation reads no other)."""
    if not sizes:
        return
    upsert(
        connection,
        segment_sizes,
        [
            {"segment_id": segment_id, "day": now.date(), "size": size, "sized_at": now}
            for segment_id, size in sizes.items()
        ],
        keys=["segment_id", "day"],
        update=["size", "sized_at"],
    )
    connection.execute(
        delete(segment_sizes).where(
            segment_sizes.c.segment_id.in_(list(sizes)),
            segment_sizes.c.day < now.date() - timedelta(days=HISTORY_DAYS),
        )
    )


def size_history(connection: Connection, segment_id: int, since: date) -> list[SegmentSize]:
    """The segment's sizes from ``since`` on, oldest first."""
    rows = connection.execute(
        select(segment_sizes.c.day, segment_sizes.c.size, segment_sizes.c.sized_at)
        .where(segment_sizes.c.segment_id == segment_id, segment_sizes.c.day >= since)
        .order_by(segment_sizes.c.day)
    )
    return [SegmentSize(day=r.day, size=int(r.size), sized_at=r.sized_at) for r in rows]


def trend_start(days: int, today: date | None = None) -> date:
    """The first day of a trend of ``days`` days that ends today (UTC)."""
    return (today or datetime.now(UTC).date()) - timedelta(days=days - 1)


def forget_sizes(connection: Connection, segment_id: int) -> None:
    """Delete a segment's sizes (it is deleted)."""
    connection.execute(delete(segment_sizes).where(segment_sizes.c.segment_id == segment_id))
