"""Segments keep their size day by day, for their population trend.

One row per segment and day (UTC): the day's last materialisation. The
materialisation that writes a day's row prunes the segment's rows older than
the history kept (:data:`audiencehub.people.segment_sizes.HISTORY_DAYS`).

Revision ID: p0013
Revises: p0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import UTCDateTime

revision = "p0013"
down_revision = "p0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the sizes, seeded with each segment's last one."""
    op.create_table(
        "people_segment_sizes",
        sa.Column("segment_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sized_at", UTCDateTime, nullable=False),
    )
    segments = sa.table(
        "people_segments",
        sa.column("id", sa.Integer),
        sa.column("size", sa.BigInteger),
        sa.column("sized_at", UTCDateTime),
    )
    sizes = sa.table(
        "people_segment_sizes",
        sa.column("segment_id", sa.Integer),
        sa.column("day", sa.Date),
        sa.column("size", sa.BigInteger),
        sa.column("sized_at", UTCDateTime),
    )
    connection = op.get_bind()
    known = connection.execute(
        sa.select(segments.c.id, segments.c.size, segments.c.sized_at).where(
            segments.c.sized_at.is_not(None)
        )
    ).all()
    if known:
        connection.execute(
            sa.insert(sizes),
            [
                {
                    "segment_id": s.id,
                    "day": s.sized_at.date(),
                    "size": s.size,
                    "sized_at": s.sized_at,
                }
                for s in known
            ],
        )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("people_segment_sizes")
