"""Segment names are unique: partners (campaign) find shared audiences by name.

Segments that shared a name before keep the first (lowest id) as it was; the
others get " (segment <id>)" appended, so no segment is lost or merged.

Revision ID: p0006
Revises: p0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p0006"
down_revision = "p0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Rename the later of any segments sharing a name, then make names unique."""
    segments = sa.table(
        "people_segments", sa.column("id", sa.Integer), sa.column("name", sa.String)
    )
    connection = op.get_bind()
    seen: set[str] = set()
    for segment_id, name in connection.execute(
        sa.select(segments.c.id, segments.c.name).order_by(segments.c.id)
    ).all():
        if name in seen:
            connection.execute(
                sa.update(segments)
                .where(segments.c.id == segment_id)
                .values(name=f"{name} (segment {segment_id})")
            )
        seen.add(name)
    with op.batch_alter_table("people_segments") as batch:
        batch.create_unique_constraint("uq_people_segments_name", ["name"])


def downgrade() -> None:
    """Names may repeat again."""
    with op.batch_alter_table("people_segments") as batch:
        batch.drop_constraint("uq_people_segments_name", type_="unique")
