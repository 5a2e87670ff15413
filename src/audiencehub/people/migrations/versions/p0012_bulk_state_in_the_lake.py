"""The bulk state moves to the people lake; segments keep the size of their materialisation.

Trait realisations, key-values and published state now live in a DuckLake
(:mod:`audiencehub.people.lake`). A table that holds rows is renamed
``people_legacy_*``: the first job that opens the lake moves its rows there in
one snapshot and drops it (``audiencehub db upgrade`` does so at once). An
empty one is dropped here. Segments gain the size their last materialisation
found and when it ran.

Revision ID: p0012
Revises: p0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "p0012"
down_revision = "p0011"
branch_labels = None
depends_on = None

_MOVED = ("people_user_traits", "people_user_signals", "people_published")


def upgrade() -> None:
    """Set aside the tables with rows, drop the empty ones, add the segments' sizes."""
    connection = op.get_bind()
    for table in _MOVED:
        held = connection.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").first()
        if held is None:
            op.drop_table(table)
        else:
            op.rename_table(table, table.replace("people_", "people_legacy_", 1))
    with op.batch_alter_table("people_segments") as batch:
        batch.add_column(sa.Column("size", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("sized_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Put back the tables set aside (rows not yet moved), else recreate them empty (the
    lake's rows are not copied back), and drop the sizes."""
    with op.batch_alter_table("people_segments") as batch:
        batch.drop_column("sized_at")
        batch.drop_column("size")
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for table in _MOVED:
        legacy = table.replace("people_", "people_legacy_", 1)
        if legacy in present:
            op.rename_table(legacy, table)
    present = set(sa.inspect(op.get_bind()).get_table_names())
    _recreate(present)


def _recreate(present: set[str]) -> None:
    if "people_user_traits" not in present:
        _traits()
    if "people_user_signals" not in present:
        op.create_table(
            "people_user_signals",
            sa.Column("user_id", ID, sa.ForeignKey("people_users.id"), primary_key=True),
            sa.Column("key", sa.String(255), primary_key=True),
            sa.Column("value_list", sa.JSON, nullable=False),
        )
    if "people_published" not in present:
        op.create_table(
            "people_published",
            sa.Column("destination_id", sa.Integer, primary_key=True),
            sa.Column("segment_id", sa.Integer, primary_key=True),
            sa.Column("member", sa.String(512), primary_key=True),
            sqlite_with_rowid=False,
        )


def _traits() -> None:
    op.create_table(
        "people_user_traits",
        sa.Column("user_id", ID, sa.ForeignKey("people_users.id"), primary_key=True),
        sa.Column("trait_id", sa.Integer, sa.ForeignKey("people_traits.id"), primary_key=True),
        sa.Column("realized_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_people_user_traits_trait", "people_user_traits", ["trait_id"])
