"""Processed batches keep their destination, time and kind, so order can be enforced.

An outbound batch older than the last full batch applied for its destination
must be skipped (a full batch replaces everything before it). Rows of earlier
runs are filled from their batch names.

Revision ID: c0014
Revises: c0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "c0014"
down_revision = "c0013"
branch_labels = None
depends_on = None

# <sync type>_<destination>_<master DPID>_<alias>_<full|iter>_<timestamp> at the key's end
_NAME = re.compile(r"_(\d+)_\d+_[^/]*_(full|iter)_(\d+)$")


def upgrade() -> None:
    """Add the columns and fill them from the batch names already processed."""
    with op.batch_alter_table("processed_batches") as batch:
        batch.add_column(sa.Column("destination_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("timestamp_ms", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("full", sa.Boolean, nullable=True))
    table = sa.table(
        "processed_batches",
        sa.column("batch", sa.String),
        sa.column("destination_id", sa.Integer),
        sa.column("timestamp_ms", sa.BigInteger),
        sa.column("full", sa.Boolean),
    )
    connection = op.get_bind()
    for (key,) in connection.execute(sa.select(table.c.batch)).all():
        found = _NAME.search(key)
        if found is not None:
            connection.execute(
                sa.update(table)
                .where(table.c.batch == key)
                .values(
                    destination_id=int(found[1]),
                    full=found[2] == "full",
                    timestamp_ms=int(found[3]),
                )
            )


def downgrade() -> None:
    """Drop them."""
    with op.batch_alter_table("processed_batches") as batch:
        batch.drop_column("full")
        batch.drop_column("timestamp_ms")
        batch.drop_column("destination_id")
