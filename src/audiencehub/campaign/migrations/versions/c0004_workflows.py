"""Workflow runs and their working sets.

Revision ID: c0004
Revises: c0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audiencehub.db.types import ID

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the run and working-set tables."""
    op.create_table(
        "workflow_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("activities", sa.JSON, nullable=False),
    )
    op.create_table(
        "workflow_sets",
        sa.Column("run_id", ID, sa.ForeignKey("workflow_runs.id"), primary_key=True),
        sa.Column("output", sa.String(255), primary_key=True),
        sa.Column("profile_id", ID, primary_key=True),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("workflow_sets")
    op.drop_table("workflow_runs")
